"""Tests of the world simulator (a package so module names cannot clash)."""
