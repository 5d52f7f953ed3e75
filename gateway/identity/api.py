"""The identity HTTP API (CONTRACT §3), served by the gateway itself.

Thin: parse with marshmallow, call the IdentityHandlers, dump. Every route except login
authenticates through the same `IdentityHandlers.authenticate` the gateway uses for the
requests it forwards, so the rules (inactive, revoked session, password change first)
are one piece of code.
"""
from __future__ import annotations

from flask import g, request, url_for

from crmkit.idempotency import idempotent
from crmkit.pagination import page_body
from crmkit.web import (ApiBlueprint, current_identity, if_match_version, json_response,
                        no_content, parse_body, parse_query)
from gateway.identity.handlers import IdentityHandlers
from gateway.identity.schemas import (DirectoryOut, DirectoryQuery, LoginIn, LoginOut,
                                      PasswordChangeIn, PasswordResetIn, SettingsIn,
                                      SettingsOut, UserCreateIn, UserListQuery, UserOut,
                                      UserPatchIn, dump_user)

PUBLIC_ENDPOINTS = frozenset({"login"})
NO_STORE = {"Cache-Control": "no-store"}


def blueprint(handlers: IdentityHandlers, idempotency_store=None,
              settings=None) -> ApiBlueprint:
    """The blueprint for /api/v1/auth/*, /api/v1/me, /api/v1/users* and, given
    `settings` (gateway.identity.settings_handlers.SettingsHandlers), /api/v1/settings.

    `idempotency_store` (a crmkit.idempotency.IdempotencyStore) makes POST /users honour
    Idempotency-Key; without it the header is ignored.
    """
    bp = ApiBlueprint("identity", __name__, tag="identity", url_prefix="/api/v1")

    @bp.before_request
    def _authenticate():
        endpoint = (request.endpoint or "").rpartition(".")[2]
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        caller = handlers.authenticate(request.headers.get("Authorization"),
                                      method=request.method, path=request.path)
        g.caller = caller
        g.identity = caller.identity
        return None

    @bp.operation("/auth/login", "POST", summary="Log in with username and password",
                  body=LoginIn, response=LoginOut, public=True)
    def login():
        data = parse_body(LoginIn)
        result = handlers.login(data["username"], data["password"], request.remote_addr)
        return json_response(LoginOut().dump(result), headers=NO_STORE)

    @bp.operation("/auth/password", "POST", summary="Change your own password",
                  body=PasswordChangeIn, status=204)
    def change_password():
        data = parse_body(PasswordChangeIn)
        handlers.change_password(g.caller, data["old_password"], data["new_password"],
                                request.remote_addr)
        return no_content()

    @bp.operation("/me", "GET", summary="The calling user", response=UserOut)
    def me():
        user = g.caller.user
        return json_response(dump_user(user), version=user.version, headers=NO_STORE)

    def _idempotency_store():
        return idempotency_store

    def _create_user():
        data = parse_body(UserCreateIn)
        user = handlers.create_user(current_identity(), data)
        return json_response(dump_user(user), 201, version=user.version, headers={
            "Location": url_for(".get_user", user_id=user.id)})

    create = idempotent(_idempotency_store)(_create_user) if idempotency_store else _create_user
    create.__name__ = "create_user"
    bp.operation("/users", "POST", summary="Create a user (admin)", body=UserCreateIn,
                 response=UserOut, status=201)(create)

    @bp.operation("/users", "GET", summary="List users (admin; supervisors and managers "
                  "see the users they oversee)", query=UserListQuery, response=UserOut,
                  paginated=True)
    def list_users():
        query = parse_query(UserListQuery)
        users, total = handlers.list_users(current_identity(), **query)
        return json_response(page_body([dump_user(u) for u in users], total, query["page"],
                                       query["per_page"]))

    @bp.operation("/users/directory", "GET", summary="Active colleagues for pickers (any "
                  "signed-in user): id, name, role, team, region; plus the teams and "
                  "regions in use", query=DirectoryQuery, response=DirectoryOut)
    def user_directory():
        query = parse_query(DirectoryQuery)
        users = handlers.directory(current_identity(), **query)
        teams: set[str] = set()
        for user in users:
            parts = user.team.split("/")
            teams.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        return json_response(DirectoryOut().dump({
            "items": users, "teams": sorted(teams),
            "regions": sorted({u.region for u in users})}))

    @bp.operation("/users/<user_id>", "GET", summary="One user", response=UserOut)
    def get_user(user_id: str):
        user = handlers.get_user(current_identity(), user_id)
        return json_response(dump_user(user), version=user.version)

    @bp.operation("/users/<user_id>", "PATCH", summary="Change a user (admin); "
                  "active: false stops them logging in", body=UserPatchIn, response=UserOut)
    def patch_user(user_id: str):
        expected_version = if_match_version()
        changes = parse_body(UserPatchIn)
        user = handlers.update_user(current_identity(), user_id, changes,
                                    expected_version=expected_version)
        return json_response(dump_user(user), version=user.version)

    @bp.operation("/users/<user_id>/password", "POST", summary="Set a temporary password "
                  "(admin); the user must change it at next login. Not your own (403 "
                  "cannot_reset_own_password): use POST /auth/password",
                  body=PasswordResetIn, status=204)
    def reset_password(user_id: str):
        data = parse_body(PasswordResetIn)
        handlers.reset_password(current_identity(), user_id, data["password"])
        return no_content()

    if settings is not None:
        @bp.operation("/settings", "GET", summary="The organisation's settings (参数设置): "
                      "上下级强制共享 and the data dictionary (any signed-in user)",
                      response=SettingsOut)
        def get_settings():
            current = settings.current()
            return json_response(SettingsOut().dump(current.to_dict()),
                                 version=current.version)

        @bp.operation("/settings", "PUT", summary="Replace the settings (admin); what is "
                      "left out takes its default (the switch on, a list empty: free text)",
                      body=SettingsIn, response=SettingsOut)
        def put_settings():
            expected_version = if_match_version()
            data = parse_body(SettingsIn)
            current = settings.replace(current_identity(), data,
                                       expected_version=expected_version)
            return json_response(SettingsOut().dump(current.to_dict()),
                                 version=current.version)

    return bp
