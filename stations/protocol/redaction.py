"""A station's Basic-auth password travels to it inside a command (1.6 ChangeConfiguration AuthorizationKey, 2.0.1
SetVariables SecurityCtrlr.BasicAuthPassword); what the CSMS keeps of such a command, in the command log and the
message log, has the value masked. The plaintext exists only on its way to the station."""

REDACTED = "[redacted]"
SECRET_CONFIGURATION_KEYS = frozenset({"authorizationkey"})  # 1.6 keys are case-insensitive
SECRET_VARIABLES = frozenset({"basicauthpassword"})
SECRET_NAMES = SECRET_CONFIGURATION_KEYS | SECRET_VARIABLES


def redacted(action: str, payload):
    """``payload`` of ``action`` as it may be stored: secrets masked, anything else unchanged (the same object)."""
    if not isinstance(payload, dict):
        return payload
    if action == "ChangeConfiguration" and str(payload.get("key", "")).lower() in SECRET_CONFIGURATION_KEYS:
        return {**payload, "value": REDACTED}
    if action == "SetVariables" and isinstance(payload.get("setVariableData"), list):
        entries = payload["setVariableData"]
        if any(_is_secret_variable(entry) for entry in entries):
            masked = [_masked_variable(entry) for entry in entries]
            return {**payload, "setVariableData": masked}
    return payload


def stored_value(name: str, value):
    """The value of the configuration key or device-model variable ``name`` as it may be stored: a secret's
    masked (what the CSMS knows of it is that it was set), anything else unchanged."""
    return REDACTED if value is not None and is_secret(name) else value


def is_secret(name: str) -> bool:
    """Whether the 1.6 configuration key or 2.0.1 variable ``name`` holds the station's password."""
    return str(name).lower() in SECRET_NAMES


def _is_secret_variable(entry) -> bool:
    variable = entry.get("variable") if isinstance(entry, dict) else None
    return isinstance(variable, dict) and str(variable.get("name", "")).lower() in SECRET_VARIABLES


def _masked_variable(entry):
    return {**entry, "attributeValue": REDACTED} if _is_secret_variable(entry) else entry
