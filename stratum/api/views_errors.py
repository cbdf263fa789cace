"""Django's own 400/404/500 answered in the API error format under /api/."""
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import bad_request, page_not_found, server_error

from .errors import BAD_REQUEST, INTERNAL_ERROR, NOT_FOUND, PAYLOAD_TOO_LARGE
from .exceptions import error_response
from .middleware import is_api_path


@csrf_exempt  # a POST/PATCH/DELETE to an unknown /api/ URL is a JSON 404, not Django's HTML CSRF page
def api_not_found(request, *args, **kwargs):
    return error_response(404, "Not found.", NOT_FOUND)


def handler400(request, exception=None):
    """Django's own refusals (SuspiciousOperation): too many parameters, a form body over its ceiling, a bad host."""
    if is_api_path(request.path):
        if isinstance(exception, RequestDataTooBig):
            return error_response(413, "Request body is too large.", PAYLOAD_TOO_LARGE)
        detail = str(exception) if isinstance(exception, TooManyFieldsSent) else "Bad request."
        return error_response(400, detail, BAD_REQUEST)
    return bad_request(request, exception)


def handler404(request, exception=None):
    if is_api_path(request.path):
        return api_not_found(request)
    return page_not_found(request, exception)


def handler500(request):
    if is_api_path(request.path):
        return error_response(500, "Internal server error.", INTERNAL_ERROR)
    return server_error(request)
