from .status import Banner, StatusBar

__all__ = ["Banner", "StatusBar"]
