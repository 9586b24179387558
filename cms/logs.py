"""One line per event, readable by an operator, with the station id wherever one is known.

Pass context with ``extra``: ``logger.info("boot accepted", extra={"station_id": sid, "vendor": v})``.
The text form is logfmt (``time level logger station=... msg="..." key=value``); ``LOG_JSON=1``
emits one JSON object per line for log shippers.
"""

import json
import logging
from datetime import UTC, datetime

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class LineFormatter(logging.Formatter):
    def __init__(self, json: bool = False):
        super().__init__()
        self.as_json = json

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        if self.as_json:
            return json.dumps(fields, default=str)
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())


def _logfmt_value(value) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' ="\n'):
        return json.dumps(text)
    return text
