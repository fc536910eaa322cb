"""Board profiles: strict data from ``boards/*.toml``, loaded and validated."""

from jsqat_embed.boards.profile import (
    BoardProfile,
    MemoryRegion,
    board_directory,
    list_boards,
    load_board,
    load_board_file,
)

__all__ = ["BoardProfile", "MemoryRegion", "board_directory", "list_boards", "load_board", "load_board_file"]
