from .alerts import AlertsScreen
from .audit import AuditScreen
from .command import CommandLine
from .confirm import RevokeAllDialog, RevokeDialog
from .help import HelpScreen
from .user_detail import UserDetailScreen
from .users import UsersScreen

__all__ = ["AlertsScreen", "AuditScreen", "CommandLine", "HelpScreen", "RevokeAllDialog",
           "RevokeDialog", "UserDetailScreen", "UsersScreen"]
