"""Option values as ``Literal`` aliases, validated in one place."""

from __future__ import annotations

from typing import Any, Literal, get_args

from measure.errors import ConfigError

Status = Literal["active", "suspended", "not_found", "protected", "deactivated"]
Label = Literal["supporter", "non_supporter", "unclear"]
Relation = Literal["follows", "mentions", "retweets"]
CrawlList = Literal["followers", "friends"]
Allocation = Literal["proportional", "equal", "neyman"]
Origin = Literal["created", "first_seen"]
DeletedAs = Literal["censor", "compete"]
#: Capture-recapture models: the families ("independence" = Mt, "two_way", and
#: "heterogeneity" = the best heterogeneity model by the criterion), then every
#: named model of ``measure.capture``.
CaptureModel = Literal[
    "independence",
    "two_way",
    "heterogeneity",
    "M0",
    "Mt",
    "Mh_chao",
    "Mh_poisson2",
    "Mh_darroch",
    "Mh_gamma3.5",
    "Mth_chao",
    "Mth_poisson2",
    "Mth_darroch",
    "Mth_gamma3.5",
    "Mth_normal",
    "stepwise",
    "Mth_darroch_stepwise",
    "chapman",
    "lincoln_petersen",
]
Criterion = Literal["aic", "bic"]

STATUSES: tuple[str, ...] = get_args(Status)
LABELS: tuple[str, ...] = get_args(Label)
RELATIONS: tuple[str, ...] = get_args(Relation)
CRAWL_LISTS: tuple[str, ...] = get_args(CrawlList)
CAPTURE_MODELS: tuple[str, ...] = get_args(CaptureModel)


def validate_option(name: str, value: Any, alias: Any) -> Any:
    """Return ``value`` if it is one of ``alias``'s literals, else raise.

    Parameters
    ----------
    name
        The option's name, for the message.
    value
        The value given.
    alias
        A ``Literal[...]`` alias from this module.

    Raises
    ------
    ConfigError
        Naming the option and listing every valid value.
    """
    valid = get_args(alias)
    if value not in valid:
        raise ConfigError(
            f"invalid value {value!r} for option '{name}'; valid values are: "
            + ", ".join(repr(v) for v in valid)
        )
    return value
