/*
 * latscope top's ncurses screen: draws snapshots (it never reads the session)
 * and turns keys into view changes or actions for the caller. One instance
 * per terminal; not thread-safe.
 */
#ifndef LS_CLI_TUI_H
#define LS_CLI_TUI_H

#include <stddef.h>

#include "top.h"

/* What a key asks of the caller; view-only keys (move, sort, filter, detail, help) are handled inside. */
enum tui_action {
	TUI_NONE = 0,
	TUI_REDRAW,     /* the view changed */
	TUI_QUIT,
	TUI_PAUSE,      /* toggle */
	TUI_RESET,
	TUI_FLAME,
	TUI_THRESHOLD,  /* text: the duration typed */
};

struct tui;

/* Whether the terminal type ($TERM) is known, before anything is attached. 0 or -ENOTTY. */
int tui_check_terminal(void);

/* Take over the terminal (alternate screen). colour 0: attributes only. 0 or -errno. */
int tui_open(int colour, struct tui **out);
/* Give the terminal back as it was. NULL is a no-op. */
void tui_close(struct tui *t);

/* Draw snap (NULL: nothing collected yet) with a status line. */
void tui_draw(struct tui *t, const struct top_snap *snap, const char *status);

/*
 * Read one pending key (never blocks). Returns TUI_NONE when there is none;
 * for TUI_THRESHOLD, *text points at what was typed (valid until the next call).
 */
enum tui_action tui_key(struct tui *t, const char **text);

/* Whether colour should be used: not with NO_COLOR set, nor on terminals without colours. */
int tui_want_colour(void);

#endif
