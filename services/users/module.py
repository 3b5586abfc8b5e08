"""`UsersModule`: the user and session stores, for every module that imports it."""

from __future__ import annotations

from framework import Module
from services.storage import StorageModule
from services.users.service import SessionStore, UserStore


class UsersModule(Module):
    imports = [StorageModule]
    providers = [UserStore, SessionStore]
    exports = [UserStore, SessionStore]
