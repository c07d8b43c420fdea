"""Where a contact came from, in the Children in Need census's own codes (CIN referral source).

The steering group counts contacts by source and by agency, and the census return needs the code of each
referral, so the code is kept on the case when the contact is recorded rather than guessed later from the
free-text agency name.
"""

# Code -> words, in the census's order.
SOURCES: dict[str, str] = {
    "1A": "Individual: family member, relative or carer",
    "1B": "Individual: acquaintance (including neighbours and friends)",
    "1C": "Individual: self",
    "1D": "Individual: other",
    "2A": "Schools",
    "2B": "Education services",
    "3A": "Health services: GP",
    "3B": "Health services: health visitor",
    "3C": "Health services: school nurse",
    "3D": "Health services: other primary health services",
    "3E": "Health services: A&E (emergency department)",
    "3F": "Health services: other",
    "4": "Housing",
    "5A": "Local authority services: social care",
    "5B": "Local authority services: other internal",
    "5C": "Local authority services: external (another local authority)",
    "5D": "Early help",
    "6": "Police",
    "7": "Other legal agency",
    "8": "Other",
    "9": "Anonymous",
    "10": "Unknown",
}

UNKNOWN = "10"


def source_of_contact(data: dict) -> str:
    """The code the referrer's answers give: the one chosen, else what the kind of referrer implies."""
    referrer = data.get("referrer") or {}
    chosen = referrer.get("source")
    if chosen in SOURCES:
        return str(chosen)
    kind = referrer.get("kind")
    if kind == "anonymous":
        return "9"
    if kind == "public":
        return "1D"
    return UNKNOWN
