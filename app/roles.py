"""The roles of the front door (DOMAIN.md), which are also the lane names of every diagram."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    id: str
    title: str
    team: str
    sees_cases: bool = True


ROLES: dict[str, Role] = {
    r.id: r
    for r in [
        Role("fpoc", "FPOC call handler", "fpoc"),
        Role("coordinator", "Compass coordinator", "compass"),
        Role("ssw", "Senior social worker", "compass"),
        Role("team_manager", "Team manager", "compass"),
        Role("compass_sw", "Compass social worker", "compass"),
        Role("police", "Police (co-located)", "police"),
        Role("health", "Health (public health nurse)", "health"),
        Role("partner", "Partner agency", "probation"),
        Role("early_help", "Early Help hub", "early_help"),
        Role("allocated_worker", "Allocated social worker", "assessment"),
        Role("lead_professional", "Lead professional, targeted early help", "early_help"),
        Role("ce_missing_lead", "CE/missing lead", "compass"),
        Role("lado", "LADO", "lado"),
        Role("business_support", "Business support", "compass"),
        Role("service_manager", "Service manager", "management"),
        Role("process_owner", "Process owner", "management", sees_cases=False),
        Role("admin", "System administrator", "it", sees_cases=False),
    ]
}

TEAMS: dict[str, str] = {
    "fpoc": "First point of contact",
    "compass": "Compass hub",
    "police": "Police (HAU)",
    "health": "Health (public health nursing)",
    "probation": "Probation",
    "recovery": "Recovery partnership",
    "da_service": "Domestic abuse service",
    "housing": "Housing",
    "education": "Education",
    "youth_justice": "Youth justice",
    "early_help": "Early Help hub",
    "assessment": "Assessment team",
    "lado": "LADO",
    "management": "Management",
    "it": "IT",
}

# The nine outcomes of a contact (§4.10), held per child.
CONTACT_OUTCOMES: dict[str, str] = {
    "progress_to_referral": "Progress to referral",
    "link_to_existing_referral": "Link to existing referral",
    "non_agency_adoption": "Non-agency adoption",
    "provision_of_information_advice": "Provision of information/advice",
    "referral_to_other_agency": "Referral to other agency",
    "ola_lac": "OLA LAC",
    "no_further_action": "No further action",
    "private_fostering_assessment": "Private fostering assessment",
    "ola_cp_notification": "OLA CP notification",
}

# The flows of the front door, one diagram each in processes/ (DOMAIN.md Flows 1-5 and §12).
FLOWS: dict[str, str] = {
    "initial_contact": "Initial contact",
    "mat": "Multi Agency Triage",
    "strategy_discussion": "Strategy discussion",
    "lado": "LADO allegation",
    "information_request": "Information request",
    "da_triage": "Domestic-abuse notification triage",
}

FLOW_STATUSES: dict[str, str] = {
    "running": "In progress",
    "completed": "Finished",
    "failed": "Stopped: a step failed",
    "cancelled": "Stopped: contact voided",
}

# Where a flow hands a case or a child on to; the child's outcome is pending until that flow decides.
HANDOVERS: dict[str, str] = {
    "mat": "Multi Agency Triage",
    "strategy_discussion": "Strategy discussion",
    "lado": "the LADO",
    "initial_contact": "the referral path of the initial contact",
}

# The outcome of a referral (§4.17), apart from the contact's outcome.
REFERRAL_OUTCOMES: dict[str, str] = {
    "assessment": "Child and family assessment (section 17)",
    "strategy_discussion": "Strategy discussion (section 47)",
    "early_help": "Step down to early help",
    "services": "Services provided without an assessment",
    "no_further_action": "No further action",
}

REFERRAL_ROUTES: dict[str, str] = {
    "consent_given": "Threshold met with consent (section 17)",
    "strategy_discussion": "Significant harm: strategy discussion (section 47)",
    "pprc_assessment": "Assessment of a person posing a risk (§11)",
}

THRESHOLDS: dict[str, str] = {
    "below_early_help": "Below early help (level 1)",
    "early_help": "Early help (level 2)",
    "s17": "Child in need, s17 (level 3)",
    "s47": "Significant harm, s47 (level 4)",
}

CONSENT: dict[str, str] = {
    "given": "given",
    "refused": "refused",
    "not_obtained": "not obtained yet",
    "withdrawn": "withdrawn",
    "not_reached": "not reached yet",
}

# What the council's main record system says a child is involved in (imported; DOMAIN.md "Records").
INVOLVEMENT_KINDS: dict[str, str] = {
    "social_care": "Open to social care (allocated social worker)",
    "targeted_early_help": "Targeted early help (lead professional)",
    "lado_subject": "Subject of a LADO allegation",
    "referral": "Referral to children's social care",
    "child_protection_plan": "Child protection plan",
    "looked_after": "Looked after",
}

# Multi Agency Triage (§5): what the daily meeting may decide, each agency's part (the diagram's task ids),
# and the final decision after further checks (a strategy discussion, or one of the contact outcomes).
MAT_OUTCOMES: dict[str, str] = {
    "no_action": "No action",
    "strategy_discussion": "Strategy discussion",
    "further_checks": "Further agency checks",
}
MAT_PARTS: dict[str, str] = {"police_check": "Police", "health_check": "Health", "social_care_check": "Social care"}
MAT_FINAL_DECISIONS: dict[str, str] = {"strategy_discussion": "Strategy discussion", **CONTACT_OUTCOMES}
REFERRAL_ROUTES["mat_further_checks"] = "Further checks after Multi Agency Triage, consent overridden (§5)"

# Strategy discussions (§6): what the discussion decided, how it was held, who chaired it.
STRATEGY_DECISIONS: dict[str, str] = {
    "s47_and_police": "Section 47 enquiry and police criminal investigation",
    "s47": "Section 47 enquiry",
    "police": "Police criminal investigation",
    "s17_assessment": "Child and family assessment (section 17)",
    "early_help": "Early help",
    "no_further_action": "No further action",
}
STRATEGY_HOW_HELD: dict[str, str] = {
    "in_person": "In person",
    "phone": "By phone or video call",
    "written": "By written reports",
}
STRATEGY_CONTRIBUTED: dict[str, str] = {
    "in_person": "In person",
    "phone": "By phone",
    "written_report": "Written report",
}
STRATEGY_CHAIRS: dict[str, str] = {"ssw": "Senior social worker", "team_manager": "Team manager"}
