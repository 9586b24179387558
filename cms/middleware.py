"""Request guards that hold for the whole site, before any view runs."""

import json

from django.http import JsonResponse

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _json_body_holds_nul(request) -> bool:
    body = request.body
    if b"\x00" in body:
        return True
    if b"u0000" not in body.lower():  # the only way a JSON text spells NUL
        return False
    try:
        return _holds_nul(json.loads(body))
    except ValueError:
        return False  # not JSON: the parser answers 400 itself


def _where_nul(request) -> str | None:
    if NUL in request.path:
        return "the path"
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            return f"the query parameter {name.replace(NUL, '')!r}"
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        if _json_body_holds_nul(request):
            return "the JSON body"
    elif content_type in FORM_TYPES and request.method == "POST":
        # Django parses these bodies for POST only (DRF reuses what it parsed); file names count, contents not.
        fields = dict(request.POST.lists())
        if _holds_nul(fields) or _holds_nul([upload.name for upload in request.FILES.values()]):
            return "the form"
    return None


class RejectNulCharactersMiddleware:
    """A NUL character in the path, a query parameter or a JSON or form body is answered 400 with where it was.

    PostgreSQL cannot store or compare text holding NUL (psycopg raises ValueError, jsonb a DataError), and no
    legitimate request carries one; refusing here spares every filter, lookup and JSON field its own check.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _where_nul(request)
        if where is not None:
            return JsonResponse({"detail": f"NUL characters are not allowed (in {where})."}, status=400)
        return self.get_response(request)
