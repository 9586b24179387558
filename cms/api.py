"""Conventions every REST endpoint shares: bounded pagination, error bodies, and the error responses in the schema.

Wired in ``REST_FRAMEWORK`` and ``SPECTACULAR_SETTINGS``: an endpoint gets them without doing anything.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, pagination, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with the current state."
    default_code = "conflict"


def _count_phrase(objects) -> str:
    counts: dict[str, int] = {}
    for obj in objects:
        meta = obj._meta
        counts[meta.verbose_name] = counts.get(meta.verbose_name, 0) + 1
    return ", ".join(f"{count} {name if count == 1 else name + 's'}" for name, count in sorted(counts.items()))


def exception_handler(exc, context):
    """DRF's handler, plus: a delete that other records still refer to is 409 with what refers to it; a model's
    own validation error is 400; every error body is an object (a bare list becomes ``non_field_errors``)."""
    if isinstance(exc, (ProtectedError, RestrictedError)):
        refs = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        exc = Conflict(f"It cannot be deleted: other records refer to it ({_count_phrase(refs)}).")
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"non_field_errors": response.data}
    return response


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """``limit`` above ``max_limit`` is cut to it; a limit or offset that is not a whole number in range is 400."""

    max_limit = 1000

    def _whole_number(self, request, name: str, minimum: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise exceptions.ValidationError({name: [f"Give a whole number of at least {minimum}."]})
        return value

    def get_limit(self, request):
        limit = self._whole_number(request, self.limit_query_param, 1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        # An offset past the end is an empty page (DRF answers it without a query), so no upper bound is needed.
        return self._whole_number(request, self.offset_query_param, 0) or 0

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {
                "minimum": 1,
                "description": f"Results per page ({self.default_limit} when left out; more than {self.max_limit} "
                f"is cut to {self.max_limit}).",
            },
            self.offset_query_param: {"minimum": 0, "description": "How many results to skip."},
        }
        for parameter in parameters:
            extra = bounds.get(parameter["name"], {})
            parameter["schema"] = {**parameter["schema"], **{k: v for k, v in extra.items() if k != "description"}}
            if "description" in extra:
                parameter["description"] = extra["description"]
        return parameters


ERROR_COMPONENT = "Error"
ERROR_REF = f"#/components/schemas/{ERROR_COMPONENT}"
ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` says what is wrong with the request as a whole; a field's problems are listed under "
    "the field's name (`non_field_errors` for the request's).",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
ERROR_DESCRIPTIONS = {
    "400": "The request is malformed: field errors, a bad query parameter, or a NUL character.",
    "401": "Not authenticated: no or a wrong token (`Authorization: Token <key>`).",
    "403": "Your role does not allow this.",
    "404": "Not found, or not yours.",
    "405": "Method not allowed.",
    "409": "Conflicts with the current state.",
    "415": "The body's media type is not one the operation takes, or its encoding cannot be read.",
    "429": "Too many requests; try again later.",
}


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def error_responses_hook(result, generator, request, public):
    """drf-spectacular postprocessing: every operation documents the errors it can answer with the Error schema.

    400 and 403 for all (every request passes the NUL guard and the role checks), 401 where a token is required,
    404 where the path names an object, 409 for deletes (other records may refer to the object), 415 where it takes
    a body (one of another media type, or a multipart body without a readable boundary); an error status
    an operation already declares without a body gets the Error schema.
    """
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            wanted = {"400", "403"}
            if operation.get("security") != [{}] and {} not in operation.get("security", []):
                wanted.add("401")
            if "{" in path:
                wanted.add("404")
            if method == "delete":
                wanted.add("409")
            if "requestBody" in operation:
                wanted.add("415")
            for code in sorted(wanted - set(responses)):
                responses[code] = _error_response(ERROR_DESCRIPTIONS[code])
            for code, response in responses.items():
                if code not in ERROR_DESCRIPTIONS:
                    continue
                if "content" not in response:
                    response.update(_error_response(response.get("description") or ERROR_DESCRIPTIONS[code]))
                    continue
                # A body of its own (a command's outcome), or the generic error (field errors, the NUL guard).
                for media in response["content"].values():
                    if media.get("schema", {}).get("$ref") != ERROR_REF:
                        media["schema"] = {"anyOf": [media["schema"], {"$ref": ERROR_REF}]}
    return result


def bad_request(request, exception):
    """``handler400`` (a malformed body Django itself refuses, e.g. too many fields): JSON under /api/."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "The request is malformed."}, status=status.HTTP_400_BAD_REQUEST)
    return defaults.bad_request(request, exception)


def not_found(request, exception):
    """``handler404``: an unknown URL under /api/ is answered in JSON, like every other API error; pages get HTML."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)
