"""Auth, users, tenant settings and API keys. Views parse, call one service/selector, serialize."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from stratum.api.permissions import ADMIN_ROLES, ROLES, ApiKeyScopePermission, IsTenantAdmin
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from . import serializers as s
from .models import ApiKey, User
from .services import api_keys, login, members, passwords, registration, sessions, tenants

# --- auth ------------------------------------------------------------------------------------

class PublicAuthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


REGISTERED = ("Check your inbox: if this address can be registered, a link to verify it is on its way; if it "
              "already has an account, its owner has been told.")


class RegisterView(PublicAuthView):
    """The same answer for a new and a taken address (no enumeration); the e-mails tell the owner the rest."""

    @extend_schema(request=s.RegisterSerializer, responses={202: s.DetailSerializer}, auth=[], tags=["auth"])
    def post(self, request):
        registration.user_register(**parse_body(s.RegisterSerializer, request))
        return Response({"detail": REGISTERED}, status=status.HTTP_202_ACCEPTED)


class ResendVerificationView(PublicAuthView):
    @extend_schema(request=s.ForgotPasswordSerializer, responses={202: s.DetailSerializer}, auth=[], tags=["auth"])
    def post(self, request):
        data = parse_body(s.ForgotPasswordSerializer, request)
        registration.verification_resend(email=data["email"])
        return Response({"detail": registration.RESEND_ANSWER}, status=status.HTTP_202_ACCEPTED)


class LoginView(PublicAuthView):
    @error_responses(401)
    @extend_schema(request=s.LoginSerializer, responses={200: s.LoginResponseSerializer}, auth=[], tags=["auth"])
    def post(self, request):
        data = parse_body(s.LoginSerializer, request)
        user, tokens = login.user_login(request=request, email=data["email"], password=data["password"])
        person = s.UserSerializer(user).data
        catalyst = {key: tokens[key] for key in ("access_token", "token_type", "expires_in")}
        return Response({**tokens, "user": person, "status_code": 200, "message": "Login successful",
                         "data": {**catalyst, "user": person}})


class RefreshView(PublicAuthView):
    @error_responses(401)
    @extend_schema(request=s.RefreshSerializer, responses={200: s.TokenPairSerializer}, auth=[], tags=["auth"])
    def post(self, request):
        data = parse_body(s.RefreshSerializer, request)
        return Response(sessions.tokens_refresh(refresh_token=data["refresh_token"]))


class LogoutView(APIView):
    permission_classes = [IsAuthenticated, ApiKeyScopePermission]  # closed to API keys like every unscoped view

    @extend_schema(request=s.LogoutSerializer, responses={200: s.DetailSerializer}, tags=["auth"])
    def post(self, request):
        data = parse_body(s.LogoutSerializer, request)
        sessions.user_logout(user=request.user, refresh_token=data.get("refresh_token"), access_token=request.auth)
        return Response({"detail": "Logged out."})


class ForgotPasswordView(PublicAuthView):
    @extend_schema(request=s.ForgotPasswordSerializer, responses={200: s.DetailSerializer}, auth=[], tags=["auth"])
    def post(self, request):
        data = parse_body(s.ForgotPasswordSerializer, request)
        passwords.password_forgot(email=data["email"])
        return Response({"detail": passwords.FORGOT_ANSWER})


class ResetPasswordView(PublicAuthView):
    @extend_schema(request=s.ResetPasswordSerializer, responses={200: s.DetailSerializer}, auth=[], tags=["auth"])
    def post(self, request):
        data = parse_body(s.ResetPasswordSerializer, request)
        passwords.password_reset(token=data["token"], new_password=data["new_password"])
        return Response({"detail": "Password has been reset. Sign in with the new password."})


class VerifyEmailView(PublicAuthView):
    @error_responses(400)
    @extend_schema(parameters=[OpenApiParameter("token", str, required=True)], responses={200: s.DetailSerializer},
                   auth=[], tags=["auth"])
    def get(self, request):
        registration.email_verify(token=request.query_params.get("token", ""))
        return Response({"detail": "E-mail address verified."})


# --- users -----------------------------------------------------------------------------------

class MeView(TenantAPIView):
    scope_resource = "users"
    write_roles = ROLES

    @extend_schema(responses={200: s.MeResponseSerializer}, tags=["users"])
    def get(self, request):
        """Both references' shapes at once: the user at the top (Stratum) and in Catalyst's envelope."""
        person = s.user_payload(request.user)
        return Response({**person, "status_code": 200, "message": "Success", "data": person})

    @extend_schema(request=s.UpdateMeSerializer, responses={200: s.UserSerializer}, tags=["users"])
    def patch(self, request):
        user = members.user_update_me(user=request.user, data=parse_body(s.UpdateMeSerializer, request))
        return Response(s.UserSerializer(user).data)


class ChangePasswordView(TenantAPIView):
    write_roles = ROLES

    @extend_schema(request=s.ChangePasswordSerializer, responses={200: s.DetailSerializer}, tags=["users"])
    def post(self, request):
        data = parse_body(s.ChangePasswordSerializer, request)
        passwords.password_change(user=request.user, current_password=data["current_password"],
                                 new_password=data["new_password"])
        return Response({"detail": "Password changed. Other sessions have been signed out."})


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """Tenant members. Reading is for every member; inviting, changing and removing for admins."""

    verified_email_methods = ("POST",)  # reaches outside the tenant: needs a verified e-mail
    model = User
    serializer_class = s.UserSerializer
    scope_resource = "users"
    write_roles = ADMIN_ROLES

    def scoped_queryset(self):
        return User.objects.order_by("created_at")

    def get_serializer_class(self):
        """Owners and admins read full records; other members (and their keys) a directory: id, name, role."""
        if self.action in ("list", "retrieve") and getattr(self.request.user, "role", None) not in ADMIN_ROLES:
            return s.UserDirectorySerializer
        return s.UserSerializer

    @extend_schema(tags=["users"], responses={200: s.UserEntrySerializer(many=True)},
                   description="Owners and admins get full records; other members a directory (id, name, role, "
                               "is_active).")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=["users"], responses={200: s.UserEntrySerializer},
                   description="Owners and admins get the full record; other members a directory entry.")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=s.InviteUserSerializer, responses={201: s.UserSerializer}, tags=["users"])
    def create(self, request):
        data = parse_body(s.InviteUserSerializer, request)
        user = members.user_invite(tenant=self.tenant, invited_by=request.user, **data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @error_responses(409)
    @extend_schema(request=s.UpdateUserSerializer, responses={200: s.UserSerializer}, tags=["users"])
    def partial_update(self, request, pk=None):
        user = self.get_object()
        user = members.user_update(tenant=self.tenant, actor=request.user, user=user,
                                    data=parse_body(s.UpdateUserSerializer, request))
        return Response(s.UserSerializer(user).data)

    @error_responses(409)
    @extend_schema(responses={204: None}, tags=["users"])
    def destroy(self, request, pk=None):
        members.user_deactivate(tenant=self.tenant, actor=request.user, user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tenant ----------------------------------------------------------------------------------

class CurrentTenantView(TenantAPIView):
    write_roles = ADMIN_ROLES
    required_scopes = {"GET": ["read:users"]}

    @extend_schema(responses={200: s.TenantSerializer}, tags=["tenants"])
    def get(self, request):
        return Response(s.TenantSerializer(self.tenant).data)

    @extend_schema(request=s.UpdateTenantSerializer, responses={200: s.TenantSerializer}, tags=["tenants"])
    def patch(self, request):
        tenant = tenants.tenant_update(tenant=self.tenant, data=parse_body(s.UpdateTenantSerializer, request))
        return Response(s.TenantSerializer(tenant).data)


# --- API keys --------------------------------------------------------------------------------

class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """API keys are managed by tenant owners and admins; the secret is shown once, at creation."""

    verified_email_methods = ("POST",)  # reaches outside the tenant: needs a verified e-mail
    model = ApiKey
    serializer_class = s.ApiKeySerializer
    permission_classes = TenantGenericViewSet.permission_classes + [IsTenantAdmin]

    def scoped_queryset(self):
        return ApiKey.objects.order_by("-created_at")

    @extend_schema(request=s.CreateApiKeySerializer, responses={201: s.ApiKeyCreatedSerializer}, tags=["api-keys"])
    def create(self, request):
        data = parse_body(s.CreateApiKeySerializer, request)
        key, raw = api_keys.api_key_create(tenant=self.tenant, created_by=request.user, name=data["name"],
                                           permissions=data["permissions"], expires_at=data.get("expires_at"))
        return Response(s.ApiKeyCreatedSerializer(key, context={"raw_key": raw}).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, tags=["api-keys"])
    def destroy(self, request, pk=None):
        api_keys.api_key_revoke(tenant=self.tenant, key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
