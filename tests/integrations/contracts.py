"""Provider contracts that push back: request bodies are checked against each provider's own published schema or
official SDK models, plus the documented limits those schemas cannot express, and a violation is answered with
the provider's documented error body — so a wrong field, enum value or batch size fails a test the way it would
fail the first real call.

- Google Ads: the protobuf request messages of the version in use (google-ads on PyPI ships them), parsed with
  `json_format.ParseDict`, which refuses unknown fields and enum values. Documented rules on top: Customer Match
  `membershipLifeSpan` <= 540 (RangeError.TOO_HIGH), `containsEuPoliticalAdvertising` on new campaigns
  (FieldError.REQUIRED).
- Meta: the parameter types and enums of each Graph endpoint and the field lists of each object, as the
  facebook-business SDK (its version = the Graph version in use) declares them.
- TikTok: the request models of TikTok's Business API SDK (tiktok-business-api-sdk-official): unknown fields,
  required fields, types, and the enum values their documentation lists.
- HubSpot: the request models of hubspot-api-client (generated from HubSpot's OpenAPI specs), plus the documented
  50-input limit of batch reads with `propertiesWithHistory`.
"""
from __future__ import annotations

import importlib
import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from itertools import count
from typing import Any

import httpx
from google.protobuf import json_format


class ContractViolation(AssertionError):
    """A request the provider would refuse (with `response`, the provider's documented answer)."""

    def __init__(self, message: str, response: httpx.Response | None = None):
        super().__init__(message)
        self.response = response


# --- Google Ads ----------------------------------------------------------------------------------

GOOGLE_RPCS = {  # REST method suffix -> (services module, request message)
    "googleAds:mutate": ("google_ads_service", "MutateGoogleAdsRequest"),
    "googleAds:searchStream": ("google_ads_service", "SearchGoogleAdsStreamRequest"),
    "campaigns:mutate": ("campaign_service", "MutateCampaignsRequest"),
    "campaignBudgets:mutate": ("campaign_budget_service", "MutateCampaignBudgetsRequest"),
    "userLists:mutate": ("user_list_service", "MutateUserListsRequest"),
    "offlineUserDataJobs:create": ("offline_user_data_job_service", "CreateOfflineUserDataJobRequest"),
    ":addOperations": ("offline_user_data_job_service", "AddOfflineUserDataJobOperationsRequest"),
    ":run": ("offline_user_data_job_service", "RunOfflineUserDataJobRequest"),
}
MAX_MEMBERSHIP_LIFE_SPAN = 540


def google_rpc(path: str) -> str:
    for suffix in GOOGLE_RPCS:
        if path.endswith(suffix):
            return suffix
    raise ContractViolation(f"no Google Ads REST method ends {path!r}")


def google_message(version: str, rpc: str):
    module, name = GOOGLE_RPCS[rpc]
    types = importlib.import_module(f"google.ads.googleads.{version}.services.types.{module}")
    return getattr(types, name).pb()()


def google_failure(version: str, status: int, errors: list[tuple[dict, str]], *, grpc_status: str = "INVALID_ARGUMENT",
                   message: str = "Request contains an invalid argument.") -> httpx.Response:
    """Google Ads REST error body: google.rpc.Status with a GoogleAdsFailure detail."""
    return httpx.Response(status, json={"error": {
        "code": status, "message": message, "status": grpc_status,
        "details": [{"@type": f"type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure",
                     "errors": [{"errorCode": code, "message": text} for code, text in errors],
                     "requestId": "contract-test"}]}})


def google_validate(version: str, path: str, body: dict) -> Any:
    """The parsed request message; ContractViolation (with Google's answer) when Google would refuse it."""
    rpc = google_rpc(path)
    message = google_message(version, rpc)
    try:
        json_format.ParseDict(body, message)
    except json_format.ParseError as exc:
        # What the REST front end answers for an unknown field or enum value.
        raise ContractViolation(str(exc), httpx.Response(400, json={"error": {
            "code": 400, "message": f"Invalid JSON payload received. {exc}", "status": "INVALID_ARGUMENT"}})) from exc
    errors = google_rules(rpc, message)
    if errors:
        raise ContractViolation("; ".join(text for _code, text in errors), google_failure(version, 400, errors))
    return message


def google_rules(rpc: str, message) -> list[tuple[dict, str]]:
    """Documented constraints the protobuf types cannot express."""
    errors: list[tuple[dict, str]] = []
    campaigns = []
    if rpc == "googleAds:mutate":
        campaigns = [op.campaign_operation.create for op in message.mutate_operations
                     if op.HasField("campaign_operation") and op.campaign_operation.HasField("create")]
    elif rpc == "campaigns:mutate":
        campaigns = [op.create for op in message.operations if op.HasField("create")]
    for campaign in campaigns:
        if campaign.contains_eu_political_advertising == 0:  # UNSPECIFIED: the field was left out
            errors.append(({"fieldError": "REQUIRED"}, "The required field was not present. "
                           "(campaign.contains_eu_political_advertising)"))
    if rpc == "userLists:mutate":
        for op in message.operations:
            if op.HasField("create") and op.create.membership_life_span > MAX_MEMBERSHIP_LIFE_SPAN:
                errors.append(({"rangeError": "TOO_HIGH"}, "Too high. (user_list.membership_life_span: "
                               f"{op.create.membership_life_span} > {MAX_MEMBERSHIP_LIFE_SPAN})"))
    return errors


def _google_resource(version: str, name: str):
    if name in ("metrics", "segments"):
        module = importlib.import_module(f"google.ads.googleads.{version}.common.types.{name}")
        return getattr(module, name.capitalize()).pb().DESCRIPTOR
    try:
        module = importlib.import_module(f"google.ads.googleads.{version}.resources.types.{name}")
    except ModuleNotFoundError:
        return None
    return getattr(module, "".join(part.capitalize() for part in name.split("_"))).pb().DESCRIPTOR


def gaql_errors(version: str, query: str) -> list[str]:
    """Every `resource.field` a GAQL query names (SELECT and WHERE) must exist in that version's resources."""
    errors = []
    select = re.search(r"SELECT\s+(.*?)\s+FROM\s+(\w+)(.*)", query, re.S | re.I)
    if not select:
        return [f"not a GAQL query: {query!r}"]
    names = [f.strip() for f in select.group(1).split(",")]
    names += re.findall(r"\b([a-z_]+\.[a-z_.]+)\b", re.sub(r"'[^']*'", "", select.group(3)))
    if _google_resource(version, select.group(2)) is None:
        errors.append(f"FROM {select.group(2)}: no such resource")
    for name in names:
        resource, *path = name.split(".")
        descriptor = _google_resource(version, resource)
        for part in path:
            field = None if descriptor is None else (
                descriptor.fields_by_name.get(part) or descriptor.fields_by_name.get(part + "_"))
            if field is None:
                errors.append(f"{name}: unrecognized field")
                break
            descriptor = field.message_type
    return errors


class GoogleAdsFake:
    """A Google Ads account behind respx: validates every mutate, applies it atomically, keeps what exists."""

    def __init__(self, respx_mock, version: str):
        self.version = version
        self.base = f"https://googleads.googleapis.com/{version}"
        self.budgets: dict[str, dict] = {}
        self.campaigns: dict[str, dict] = {}
        self.user_lists: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.rejected: list[httpx.Response] = []
        self.queries: list[str] = []
        self._ids = count(9001)
        pattern = re.escape(self.base) + r"/customers/\d+/.*"
        respx_mock.post(url__regex=pattern).mock(side_effect=self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content or b"{}")
        try:
            message = google_validate(self.version, path, body)
        except ContractViolation as violation:
            self.rejected.append(violation.response)
            return violation.response
        customer = path.split("/")[3]
        rpc = google_rpc(path)
        return getattr(self, "_" + re.sub(r"\W", "_", rpc).strip("_"))(customer, message, path)

    def _new(self, customer: str, kind: str) -> str:
        return f"customers/{customer}/{kind}/{next(self._ids)}"

    def _googleAds_mutate(self, customer, message, path):
        temporary: dict[str, str] = {}
        budgets, campaigns, responses = {}, {}, []
        for op in message.mutate_operations:
            if op.HasField("campaign_budget_operation"):
                budget = op.campaign_budget_operation.create
                name = self._new(customer, "campaignBudgets")
                temporary[budget.resource_name] = name
                budgets[name] = json_format.MessageToDict(budget)
                responses.append({"campaignBudgetResult": {"resourceName": name}})
            elif op.HasField("campaign_operation"):
                campaign = op.campaign_operation.create
                if any(c.get("name") == campaign.name for c in self.campaigns.values()):
                    return google_failure(self.version, 400, [({"campaignError": "DUPLICATE_CAMPAIGN_NAME"},
                                                               "Campaign with the same name already exists.")])
                budget = temporary.get(campaign.campaign_budget, campaign.campaign_budget)
                if budget not in budgets and budget not in self.budgets:
                    return google_failure(self.version, 400, [({"resourceNameError": "MALFORMED"},
                                                               "The resource name is malformed.")])
                name = self._new(customer, "campaigns")
                campaigns[name] = {**json_format.MessageToDict(campaign), "campaignBudget": budget}
                responses.append({"campaignResult": {"resourceName": name}})
        # Atomic: applied only once every operation succeeded.
        self.budgets.update(budgets)
        self.campaigns.update(campaigns)
        return httpx.Response(200, json={"mutateOperationResponses": responses})

    def _campaignBudgets_mutate(self, customer, message, path):
        results = []
        for op in message.operations:
            if op.HasField("create"):
                name = self._new(customer, "campaignBudgets")
                self.budgets[name] = json_format.MessageToDict(op.create)
                results.append({"resourceName": name})
            else:
                results.append({"resourceName": op.update.resource_name})
        return httpx.Response(200, json={"results": results})

    def _campaigns_mutate(self, customer, message, path):
        results = []
        for op in message.operations:
            if op.HasField("create"):
                name = self._new(customer, "campaigns")
                self.campaigns[name] = json_format.MessageToDict(op.create)
                results.append({"resourceName": name})
            else:
                results.append({"resourceName": op.update.resource_name or op.remove})
        return httpx.Response(200, json={"results": results})

    def _userLists_mutate(self, customer, message, path):
        results = []
        for op in message.operations:
            name = self._new(customer, "userLists")
            self.user_lists[name] = json_format.MessageToDict(op.create)
            results.append({"resourceName": name})
        return httpx.Response(200, json={"results": results})

    def _offlineUserDataJobs_create(self, customer, message, path):
        name = self._new(customer, "offlineUserDataJobs")
        self.jobs[name] = {"job": json_format.MessageToDict(message.job), "operations": [], "ran": False}
        return httpx.Response(200, json={"resourceName": name})

    def _addOperations(self, customer, message, path):
        job = self.jobs[path.split("/v")[1].split("/", 1)[1].rsplit(":", 1)[0]]
        job["operations"].extend(json_format.MessageToDict(op) for op in message.operations)
        return httpx.Response(200, json={})

    def _run(self, customer, message, path):
        job = self.jobs[path.split("/v")[1].split("/", 1)[1].rsplit(":", 1)[0]]
        job["ran"] = True
        return httpx.Response(200, json={"name": f"customers/{customer}/operations/contract"})

    def _googleAds_searchStream(self, customer, message, path):
        errors = gaql_errors(self.version, message.query)
        if errors:  # QueryError, as Google answers a field the version does not have
            response = google_failure(self.version, 400, [({"queryError": "UNRECOGNIZED_FIELD"}, e) for e in errors])
            self.rejected.append(response)
            return response
        self.queries.append(message.query)
        return httpx.Response(200, json=[{"results": [], "fieldMask": "", "requestId": "contract-test"}])

    def orphan_budgets(self) -> list[str]:
        used = {c.get("campaignBudget") for c in self.campaigns.values()}
        return [name for name in self.budgets if name not in used]


# --- swagger / OpenAPI generated SDK models (TikTok, HubSpot) ----------------------------------------

def _check_type(kind: str, value: Any, resolve, where: str) -> list[str]:
    if value is None:
        return []
    if kind.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        inner = kind[5:-1]
        return [e for i, item in enumerate(value) for e in _check_type(inner, item, resolve, f"{where}[{i}]")]
    if kind.startswith("dict("):
        kind = "dict[" + kind[5:-1] + "]"
    if kind.startswith("dict["):
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        inner = kind[5:-1].split(",", 1)[1].strip()
        return [e for k, item in value.items() for e in _check_type(inner, item, resolve, f"{where}.{k}")]
    simple = {"str": str, "int": int, "float": (int, float), "bool": bool, "object": object, "Object": object}
    if kind in simple:
        if kind in ("int", "float") and isinstance(value, bool) or not isinstance(value, simple[kind]):
            return [f"{where}: expected {kind}, got {type(value).__name__} ({value!r})"]
        return []
    return model_errors(resolve(kind), value, resolve, where)


def model_errors(model, body: Any, resolve, where: str = "") -> list[str]:
    """Unknown keys, wrong types, missing required values and enum values the SDK refuses, recursively."""
    name = where or model.__name__
    if not isinstance(body, dict):
        return [f"{name}: expected an object"]
    types = getattr(model, "openapi_types", None) or model.swagger_types
    json_to_python = {json_key: python for python, json_key in model.attribute_map.items()}
    errors = [f"{name}: unknown field {key!r} (allowed: {sorted(json_to_python)})"
              for key in body if key not in json_to_python]
    kwargs = {json_to_python[k]: v for k, v in body.items() if k in json_to_python}
    for python, value in kwargs.items():
        errors += _check_type(types[python], value, resolve, f"{name}.{model.attribute_map[python]}")
    try:
        model(**kwargs)  # the generated setters refuse missing required values and (HubSpot) unknown enum values
    except (ValueError, TypeError) as exc:
        errors.append(f"{name}: {exc}")
    for python, value in kwargs.items():
        allowed = documented_enum(model, python)
        if allowed and value is not None and value not in allowed:
            errors.append(f"{name}.{model.attribute_map[python]}: {value!r} is not one of {sorted(allowed)}")
    return errors


def documented_enum(model, python_name: str) -> set[str]:
    """Enum values a swagger model's field documentation lists ("Enum values: APPEND: ... REMOVE: ...")."""
    doc = (getattr(model, python_name).__doc__ or "")
    match = re.search(r"Enum values?:(.*?)(?:Default|Note|:return)", doc, re.S)
    return set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{3,})\b(?=[:\s])", match.group(1))) if match else set()


# --- TikTok --------------------------------------------------------------------------------------

TIKTOK_MODELS = {  # path -> swagger request model of the official SDK
    "campaign/create/": "CampaignCreateBody",
    "campaign/update/": "CampaignUpdateBody",
    "campaign/status/update/": "CampaignStatusUpdateBody",
    "dmp/custom_audience/create/": "CustomAudienceCreateBody",
    "dmp/custom_audience/update/": "CustomAudienceUpdateBody",
    "dmp/custom_audience/file/upload/": "FileUploadBody",
}
# Enumerations the SDK models only link to ("Enumeration - Encryption Type", campaign operation_status).
TIKTOK_ENUMS = {
    "calculate_type": {"EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "GAID_SHA256", "IDFA_MD5", "GAID_MD5",
                       "FIRST_SHA256", "MULTIPLE_TYPES"},
    "operation_status": {"ENABLE", "DISABLE", "DELETE"},
    "budget_mode": {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_INFINITE", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"},
}
MIN_TIKTOK_AUDIENCE = 1_000


def tiktok_resolve(name: str):
    return getattr(importlib.import_module("business_api_client.models"), name)


def tiktok_errors(path: str, body: dict) -> list[str]:
    model = tiktok_resolve(TIKTOK_MODELS[path])
    errors = model_errors(model, body, tiktok_resolve)
    for key, allowed in TIKTOK_ENUMS.items():
        if key in body and body[key] not in allowed:
            errors.append(f"{model.__name__}.{key}: {body[key]!r} is not one of {sorted(allowed)}")
    return errors


def tiktok_error(code: int, message: str) -> httpx.Response:
    """TikTok answers errors with HTTP 200 and a non-zero `code`."""
    return httpx.Response(200, json={"code": code, "message": message, "request_id": "contract-test", "data": {}})


def multipart_fields(request: httpx.Request) -> tuple[dict, bytes]:
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.content
    message = BytesParser(policy=HTTP).parsebytes(raw)
    fields, file = {}, b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            file = part.get_payload(decode=True)
            fields[name] = part.get_filename()  # the SDK model names the file part as a string field
        else:
            fields[name] = part.get_payload(decode=True).decode()
    return fields, file


class TikTokFake:
    """TikTok's customer-file audiences behind respx: files keep their encryption type, audiences theirs."""

    API = "https://business-api.tiktok.com/open_api/v1.3"

    def __init__(self, respx_mock):
        self.files: dict[str, tuple[str, int]] = {}
        self.audiences: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []
        self.rejected: list[str] = []
        self._ids = count(1)
        respx_mock.post(url__regex=re.escape(self.API) + r"/(campaign|dmp)/.*").mock(side_effect=self.handle)
        respx_mock.get(f"{self.API}/dmp/custom_audience/get/").mock(side_effect=self.get)

    def add_audience(self, audience_id: str, kind: str, size: int) -> None:
        self.audiences[audience_id] = {"calculate_type": kind, "size": size}

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/open_api/v1.3/", 1)[1]
        if path == "dmp/custom_audience/file/upload/":
            body, content = multipart_fields(request)
        else:
            body, content = json.loads(request.content), b""
        self.calls.append((path, body))
        errors = tiktok_errors(path, body)
        if errors:
            self.rejected.extend(errors)
            return tiktok_error(40002, "; ".join(errors))
        if path == "dmp/custom_audience/file/upload/":
            file_path = f"file-{next(self._ids)}"
            self.files[file_path] = (body["calculate_type"], len(content.decode().split()))
            return tiktok_ok({"file_path": file_path})
        if path == "campaign/create/":
            return tiktok_ok({"campaign_id": str(1800 + next(self._ids))})
        if path == "dmp/custom_audience/create/":
            return self._apply(None, body["calculate_type"], body["file_paths"], "APPEND")
        if path == "dmp/custom_audience/update/":
            audience = self.audiences.get(body["custom_audience_id"])
            if audience is None:
                return tiktok_error(40002, "Custom audience does not exist.")
            return self._apply(body["custom_audience_id"], audience["calculate_type"], body.get("file_paths") or [],
                               body.get("action", "REPLACE"))
        return tiktok_ok({})

    def _apply(self, audience_id, kind, paths, action) -> httpx.Response:
        size = self.audiences[audience_id]["size"] if audience_id else 0
        for path in paths:
            file_kind, rows = self.files[path]
            if file_kind != kind:
                message = (f"The calculate_type of the file ({file_kind}) must be the same as the audience's "
                           f"({kind}).")
                self.rejected.append(message)
                return tiktok_error(40002, message)
            size = rows if action == "REPLACE" else size + rows if action == "APPEND" else size - rows
        if size < MIN_TIKTOK_AUDIENCE:
            message = "The audience size is less than 1,000 after the operation."
            self.rejected.append(message)
            return tiktok_error(40002, message)
        if audience_id is None:
            audience_id = f"ca-{next(self._ids)}"
        self.audiences[audience_id] = {"calculate_type": kind, "size": size}
        return tiktok_ok({"custom_audience_id": audience_id})

    def get(self, request: httpx.Request) -> httpx.Response:
        ids = json.loads(request.url.params["custom_audience_ids"])
        return tiktok_ok({"list": [{"audience_details": {
            "audience_id": i, "name": f"Audience {i}", "calculate_type": self.audiences[i]["calculate_type"],
            "cover_num": self.audiences[i]["size"], "is_valid": True}, "audience_history": []}
            for i in ids if i in self.audiences]})


def tiktok_ok(data: dict) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "message": "OK", "request_id": "contract-test", "data": data})


# --- HubSpot -------------------------------------------------------------------------------------

HUBSPOT_MODELS = {
    "search": "PublicObjectSearchRequest",
    "batch/read": "BatchReadInputSimplePublicObjectId",
    "batch/update": "BatchInputSimplePublicObjectBatchInput",
}
HUBSPOT_HISTORY_BATCH = 50
HUBSPOT_BATCH = 100


def hubspot_resolve(name: str):
    return getattr(importlib.import_module("hubspot.crm.contacts.models"), name)


def hubspot_errors(path: str, body: dict) -> list[str]:
    model = hubspot_resolve(HUBSPOT_MODELS[path])
    if path == "search":
        # HubSpot's published spec types `sorts` as strings; the CRM search guide documents
        # {"propertyName", "direction"} objects, which the API takes: checked by hand instead.
        sorts = body.get("sorts") or []
        body = {k: v for k, v in body.items() if k != "sorts"}
        bad = [s for s in sorts if not (isinstance(s, str) or (isinstance(s, dict) and set(s) <= {
            "propertyName", "direction"} and s.get("direction", "ASCENDING") in ("ASCENDING", "DESCENDING")))]
        errors = [f"PublicObjectSearchRequest.sorts: {bad!r}"] if bad else []
        return errors + model_errors(model, body, hubspot_resolve)
    return model_errors(model, body, hubspot_resolve)


def hubspot_error(status: int, message: str, category: str = "VALIDATION_ERROR", **extra) -> httpx.Response:
    return httpx.Response(status, json={"status": "error", "message": message, "correlationId": "contract-test",
                                        "category": category, **extra})


def hubspot_limits(path: str, body: dict) -> httpx.Response | None:
    """Documented limits beyond the schema: 100 inputs per batch, 50 with propertiesWithHistory."""
    inputs = body.get("inputs") or []
    if path == "batch/read" and body.get("propertiesWithHistory") and len(inputs) > HUBSPOT_HISTORY_BATCH:
        return hubspot_error(400, f"Batch read with propertiesWithHistory is limited to {HUBSPOT_HISTORY_BATCH} "
                                  f"inputs; {len(inputs)} were sent.")
    if path.startswith("batch/") and len(inputs) > HUBSPOT_BATCH:
        return hubspot_error(400, f"Batch input limit is {HUBSPOT_BATCH}; {len(inputs)} were sent.")
    return None


# --- Meta ----------------------------------------------------------------------------------------

def meta_param_checker(endpoint: str, method: str):
    """The SDK's parameter checker of one Graph edge: param types and enums, as facebook-business declares them."""
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.campaign import Campaign
    from facebook_business.adobjects.customaudience import CustomAudience
    from facebook_business.api import FacebookAdsApi, FacebookSession

    api = FacebookAdsApi(FacebookSession("contract", "contract", "contract"))
    edges = {
        ("POST", "campaigns"): lambda: AdAccount("act_0", api=api).create_campaign(params={}, pending=True),
        ("POST", "customaudiences"): lambda: AdAccount("act_0", api=api).create_custom_audience(params={}, pending=True),
        ("POST", "users"): lambda: CustomAudience("0", api=api).create_user(params={}, pending=True),
        ("DELETE", "users"): lambda: CustomAudience("0", api=api).delete_users(params={}, pending=True),
        ("POST", "campaign"): lambda: Campaign("0", api=api).api_update(params={}, pending=True),
    }
    return edges[(method, endpoint)]()._param_checker


META_FIELDS = {  # GET edge -> the SDK object whose Field list names what may be asked for
    "adaccounts": "adaccount.AdAccount", "campaigns": "campaign.Campaign", "ads": "ad.Ad",
    "insights": "adsinsights.AdsInsights", "campaign": "campaign.Campaign", "account": "adaccount.AdAccount",
}


def meta_field_names(kind: str) -> set[str]:
    module, name = META_FIELDS[kind].split(".")
    cls = getattr(importlib.import_module(f"facebook_business.adobjects.{module}"), name)
    return {value for key, value in vars(cls.Field).items() if not key.startswith("_") and isinstance(value, str)}


def meta_fields_errors(kind: str, fields: str) -> list[str]:
    """`fields=a,b,c{x,y}`: top-level names must be fields of the object (nested ones are not checked)."""
    depth, names, current = 0, [], ""
    for char in fields:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current)
            current = ""
        elif depth == 0:
            current += char
    names.append(current)
    known = meta_field_names(kind)
    return [f"{kind}: unknown field {name!r}" for name in names if name and name not in known]


def meta_params_errors(endpoint: str, method: str, params: dict[str, str]) -> list[str]:
    checker = meta_param_checker(endpoint, method)
    errors = []
    for key, value in params.items():
        if not checker.is_valid_key(key):
            errors.append(f"{method} {endpoint}: unknown parameter {key!r}")
            continue
        decoded: Any = value
        if isinstance(value, str) and value[:1] in "[{":
            decoded = json.loads(value)  # Graph form fields carry lists and objects JSON-encoded
        if not checker.is_valid_pair(key, decoded):
            errors.append(f"{method} {endpoint}: {key}={value!r} is not a valid value")
    return errors


def meta_error(code: int, message: str, *, status: int = 400, subcode: int | None = None) -> httpx.Response:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "contract-test"}
    if subcode:
        error["error_subcode"] = subcode
    return httpx.Response(status, json={"error": error})
