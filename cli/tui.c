/*
 * latscope top's ncurses screen: a main table, a detail view and a help
 * screen, from one key table. The views format lines whose characters carry
 * what they stand for (enum top_attr); this file only gives each attribute
 * its curses look and draws.
 */
#include "tui.h"
#include "catalog.h"

#include <curses.h>
#include <term.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_COLS 80
#define MIN_LINES 24
#define PROMPT_LEN 128

enum view { VIEW_MAIN, VIEW_DETAIL, VIEW_HELP };

/* Actions of the key table: those after A_CALLER_FIRST are handed to the caller. */
enum key_act {
	K_UP, K_DOWN, K_PGUP, K_PGDN, K_HOME, K_END, K_DETAIL, K_BACK, K_SORT_NEXT, K_SORT_LEFT, K_SORT_RIGHT,
	K_FILTER, K_HELP, K_THRESHOLD, K_QUIT, K_PAUSE, K_RESET, K_FLAME,
};

struct binding {
	int keys[3];          /* 0-terminated */
	const char *names;    /* as the help screen shows them */
	enum key_act act;
	const char *what;
};

static const struct binding bindings[] = {
	{ { 'q', 0 }, "q", K_QUIT, "quit (probes are detached)" },
	{ { KEY_UP, 'k', 0 }, "Up k", K_UP, "select the previous row / scroll up" },
	{ { KEY_DOWN, 'j', 0 }, "Down j", K_DOWN, "select the next row / scroll down" },
	{ { KEY_PPAGE, 0 }, "PgUp", K_PGUP, "one page up" },
	{ { KEY_NPAGE, ' ', 0 }, "PgDn Space", K_PGDN, "one page down" },
	{ { KEY_HOME, 'g', 0 }, "Home g", K_HOME, "first row" },
	{ { KEY_END, 'G', 0 }, "End G", K_END, "last row" },
	{ { '\n', KEY_ENTER, '\r' }, "Enter", K_DETAIL, "detail of the selected row" },
	{ { 27, KEY_BACKSPACE, 0 }, "Esc", K_BACK, "back to the table" },
	{ { 's', 0 }, "s", K_SORT_NEXT, "sort by the next column (PID, METHOD ascending; others largest first)" },
	{ { '<', 0 }, "<", K_SORT_LEFT, "sort by the column to the left" },
	{ { '>', 0 }, ">", K_SORT_RIGHT, "sort by the column to the right" },
	{ { '/', 0 }, "/", K_FILTER, "show only methods containing a text (empty: all)" },
	{ { 't', 0 }, "t", K_THRESHOLD, "change the slow-request threshold (10ms, 500us, ...)" },
	{ { 'p', 0 }, "p", K_PAUSE, "pause the screen (data keeps being collected)" },
	{ { 'r', 0 }, "r", K_RESET, "reset the statistics" },
	{ { 'f', 0 }, "f", K_FLAME, "write a flame graph of the CPU samples so far (file named in the status line)" },
	{ { 'h', '?', KEY_F(1) }, "h ? F1", K_HELP, "this help" },
};

enum { PAIR_DROP = LS_PHASE_COUNT + 1, PAIR_TITLE };

struct tui {
	SCREEN *screen;
	int colour;
	enum view view, back;
	enum top_col sort;
	char filter[PROMPT_LEN];
	pid_t sel_pid;                /* the selected row, by identity: rows move between snapshots */
	char sel_method[LS_METHOD_LEN];
	size_t top;                   /* first row shown */
	size_t scroll;                /* first detail line shown */
	int prompt;                   /* 0, '/' or 't' */
	char input[PROMPT_LEN];
	size_t ninput;
	char typed[PROMPT_LEN];
	size_t nvisible, nlines;      /* rows / detail lines in the last drawn frame */
	size_t sel;                   /* index of the selection in the last drawn order */
	size_t *idx;
	size_t capidx;
};

int tui_want_colour(void)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (nc && nc[0])
		return 0;
	if (!term || !strcmp(term, "dumb") || !strncmp(term, "vt100", 5))
		return 0;
	return 1;
}

/* The curses colour of a named one (lib/phase.c names each phase's). */
static short curses_colour(enum ls_colour c)
{
	static const short map[] = {
		[LS_COLOUR_NONE] = -1, [LS_COLOUR_BLUE] = COLOR_BLUE, [LS_COLOUR_MAGENTA] = COLOR_MAGENTA,
		[LS_COLOUR_CYAN] = COLOR_CYAN, [LS_COLOUR_YELLOW] = COLOR_YELLOW, [LS_COLOUR_GREEN] = COLOR_GREEN,
		[LS_COLOUR_RED] = COLOR_RED,
	};

	return (size_t)c < sizeof(map) / sizeof(map[0]) ? map[c] : -1;
}

/* One colour pair per phase, from the phase table: light text on dark backgrounds. */
static void init_colours(void)
{
	start_color();
	use_default_colors();
	for (int p = 0; p < LS_PHASE_COUNT; p++) {
		short bg = curses_colour(ls_phase_info((unsigned)p)->colour);
		short fg = (bg == COLOR_BLUE || bg == COLOR_MAGENTA || bg == COLOR_RED) ? COLOR_WHITE : COLOR_BLACK;

		init_pair((short)(p + 1), fg, bg);
	}
	init_pair(PAIR_DROP, COLOR_WHITE, COLOR_RED);
	init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
}

int tui_check_terminal(void)
{
	int err = 0;

	if (setupterm(NULL, STDOUT_FILENO, &err) != OK)
		return -ENOTTY;
	del_curterm(cur_term);
	return 0;
}

int tui_open(int colour, struct tui **out)
{
	struct tui *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	/* newterm, not initscr: an unknown TERM is an error to report, not an exit. */
	t->screen = newterm(NULL, stdout, stdin);
	if (!t->screen) {
		free(t);
		return -ENOTTY;
	}
	set_term(t->screen);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	t->colour = colour && has_colors();
	if (t->colour)
		init_colours();
	t->sort = TOP_COL_RPS;
	t->sel_pid = -1;
	*out = t;
	return 0;
}

void tui_close(struct tui *t)
{
	if (!t)
		return;
	endwin();
	delscreen(t->screen);
	free(t->idx);
	free(t);
}

/* How each attribute looks, with colours and without (there the phase bar's text alone tells phases apart). */
static const struct look {
	attr_t colour, mono;
} looks[TOP_ATTR_PHASE_BASE] = {
	[TOP_ATTR_NONE] = { A_NORMAL, A_NORMAL },
	[TOP_ATTR_BOLD] = { A_BOLD, A_BOLD },
	[TOP_ATTR_DIM] = { A_DIM, A_DIM },
	[TOP_ATTR_TITLE] = { COLOR_PAIR(PAIR_TITLE) | A_BOLD, A_REVERSE },
	[TOP_ATTR_HEAD] = { A_REVERSE, A_REVERSE },
	[TOP_ATTR_SELECTED] = { A_REVERSE, A_REVERSE },
	[TOP_ATTR_WARN] = { COLOR_PAIR(PAIR_DROP) | A_BOLD, A_BOLD | A_REVERSE },
};

static attr_t curses_attr(const struct tui *t, unsigned int a)
{
	if (a < TOP_ATTR_PHASE_BASE)
		return t->colour ? looks[a].colour : looks[a].mono;
	/* Phase p has colour pair p + 1, from the phase table's colour (init_colours()). */
	if (a < TOP_ATTR_COUNT && t->colour)
		return COLOR_PAIR((short)(a - TOP_ATTR_PHASE_BASE + 1));
	return A_NORMAL;
}

/* A line at row y, cut at the screen width, each run of one attribute in its look; then the line's fill. */
static void draw_line(const struct tui *t, int y, const struct top_line *l)
{
	size_t n = l->len < (size_t)COLS ? l->len : (size_t)COLS;

	move(y, 0);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && l->attr[j] == l->attr[i]; j++)
			;
		attrset(curses_attr(t, l->attr[i]));
		addnstr(l->text + i, (int)(j - i));
	}
	if (l->fill != TOP_ATTR_NONE) {
		attrset(curses_attr(t, l->fill));
		for (int x = (int)n; x < COLS; x++)
			addch(' ');
	}
	attrset(A_NORMAL);
}

/* The screen's own text (footers), all in one attribute. */
static void draw_text(const struct tui *t, int y, enum top_attr a, const char *s)
{
	struct top_line l;

	top_line_init(&l, TOP_ATTR_NONE);
	top_line_put(&l, a, "%s", s);
	draw_line(t, y, &l);
}

static int draw_legend(struct tui *t, int y)
{
	struct top_lines l = { 0 };
	int n;

	top_fmt_legend(COLS, &l);
	for (size_t i = 0; i < l.n; i++)
		draw_line(t, y + (int)i, &l.v[i]);
	n = l.n ? (int)l.n : 1;
	top_lines_free(&l);
	return y + n;
}

static void draw_header(struct tui *t, const struct top_snap *snap)
{
	struct top_line l;

	top_fmt_header(snap, 0, &l);
	draw_line(t, 0, &l);
	top_fmt_header(snap, 1, &l);
	draw_line(t, 1, &l);
}

static void draw_status(struct tui *t, int y, const char *status)
{
	struct top_line l;

	top_line_init(&l, TOP_ATTR_NONE);
	if (t->prompt)
		top_line_put(&l, TOP_ATTR_BOLD, "%s%s_", t->prompt == '/' ? "filter methods: " : "threshold: ", t->input);
	else
		top_line_put(&l, TOP_ATTR_BOLD, "%s", status ? status : "");
	move(y, 0);
	clrtoeol();
	draw_line(t, y, &l);
}

static void draw_row(struct tui *t, int y, const struct top_row *r, int selected)
{
	struct top_line l;

	top_fmt_row(r, COLS, selected, &l);
	draw_line(t, y, &l);
}

static const char footer[] = "q quit  Enter detail  Esc back  s/</> sort  / filter  t threshold  p pause  r reset  "
			     "f flame graph  h help";

/*
 * The rows in view order (t->idx) and the selection in it: the same pid x
 * method across snapshots and sorts, or the index a move key left. Returns
 * the number of rows shown.
 */
static size_t resolve_sel(struct tui *t, const struct top_snap *snap)
{
	size_t n;

	if (t->capidx < snap->nrows + 1) {
		size_t *ni = realloc(t->idx, (snap->nrows + 1) * sizeof(*ni));

		if (!ni)
			return 0;
		t->idx = ni;
		t->capidx = snap->nrows + 1;
	}
	n = top_order(snap, t->sort, t->filter, t->idx);
	if (t->sel_pid != -2) {
		t->sel = 0;
		for (size_t i = 0; i < n; i++)
			if (snap->rows[t->idx[i]].pid == t->sel_pid && !strcmp(snap->rows[t->idx[i]].method, t->sel_method))
				t->sel = i;
	}
	if (n && t->sel >= n)
		t->sel = n - 1;
	if (n) {
		t->sel_pid = snap->rows[t->idx[t->sel]].pid;
		snprintf(t->sel_method, sizeof(t->sel_method), "%s", snap->rows[t->idx[t->sel]].method);
	}
	return n;
}

static void draw_main(struct tui *t, const struct top_snap *snap, const char *status)
{
	struct top_line l;
	size_t n, rows;
	int y;

	draw_header(t, snap);
	y = draw_legend(t, 2);
	draw_status(t, y++, status);
	top_fmt_table_head(COLS, t->sort, &l);
	draw_line(t, y++, &l);
	n = resolve_sel(t, snap);
	rows = (size_t)(LINES - 1 - y);
	t->nvisible = rows;
	if (t->sel < t->top)
		t->top = t->sel;
	if (t->sel >= t->top + rows)
		t->top = t->sel - rows + 1;
	if (t->top > n)
		t->top = 0;
	if (!n)
		mvaddstr(y, 0, t->filter[0] ? "no method matches the filter" : "no request seen yet");
	for (size_t i = t->top; i < n && (int)(i - t->top) < (int)rows; i++)
		draw_row(t, y + (int)(i - t->top), &snap->rows[t->idx[i]], i == t->sel);
	draw_text(t, LINES - 1, TOP_ATTR_DIM, footer);
}

static const struct top_row *selected_row(struct tui *t, const struct top_snap *snap)
{
	if (!resolve_sel(t, snap))
		return NULL;
	for (size_t i = 0; i < snap->nrows; i++)
		if (snap->rows[i].pid == t->sel_pid && !strcmp(snap->rows[i].method, t->sel_method))
			return &snap->rows[i];
	return NULL;
}

static void draw_detail(struct tui *t, const struct top_snap *snap, const char *status)
{
	const struct top_row *r = selected_row(t, snap);
	struct top_lines l = { 0 };
	size_t rows = (size_t)(LINES - 4);

	draw_header(t, snap);
	draw_status(t, 2, status);
	if (!r) {
		mvaddstr(3, 0, "the selected row is gone (statistics reset?): Esc goes back");
		return;
	}
	if (top_fmt_detail(snap, r, COLS, &l)) {
		top_lines_free(&l);
		return;
	}
	t->nlines = l.n;
	if (t->scroll + rows > l.n)
		t->scroll = l.n > rows ? l.n - rows : 0;
	for (size_t i = t->scroll; i < l.n && i - t->scroll < rows; i++)
		draw_line(t, 3 + (int)(i - t->scroll), &l.v[i]);
	top_lines_free(&l);
	draw_text(t, LINES - 1, TOP_ATTR_DIM,
		  "Esc back  Up/Down/PgUp/PgDn scroll  f flame graph  t threshold  p pause  q quit");
}

static void draw_help(void)
{
	int y = 2;

	mvaddstr(0, 0, "latscope top: keys (any key returns)");
	for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]) && y < LINES - 1; i++, y++)
		mvprintw(y, 2, "%-12s %s", bindings[i].names, bindings[i].what);
	if (y + 1 < LINES - 1)
		mvaddstr(y + 1, 2, "Phase bars show where the p99 request of each row's recent requests spent its time.");
}

void tui_draw(struct tui *t, const struct top_snap *snap, const char *status)
{
	erase();
	if (COLS < MIN_COLS || LINES < MIN_LINES) {
		mvprintw(0, 0, "terminal too small (%dx%d, need %dx%d)", COLS, LINES, MIN_COLS, MIN_LINES);
	} else if (t->view == VIEW_HELP) {
		draw_help();
	} else if (!snap) {
		mvaddstr(0, 0, "latscope top: attaching...");
		draw_status(t, 2, status);
	} else if (t->view == VIEW_DETAIL) {
		draw_detail(t, snap, status);
	} else {
		draw_main(t, snap, status);
	}
	refresh();
}

static void move_sel(struct tui *t, long delta)
{
	if (t->view == VIEW_DETAIL) {
		long s = (long)t->scroll + delta;

		t->scroll = s < 0 ? 0 : (size_t)s;
		return;
	}
	/* The new selection is resolved at the next draw, from the index in the drawn order. */
	long s = (long)t->sel + delta;

	if (s < 0)
		s = 0;
	t->sel = (size_t)s;
	t->sel_pid = -2; /* marks "by index" */
}

static enum tui_action prompt_key(struct tui *t, int ch, const char **text)
{
	if (ch == 27) {
		t->prompt = 0;
		return TUI_REDRAW;
	}
	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		int kind = t->prompt;

		t->prompt = 0;
		t->input[t->ninput] = '\0';
		if (kind == '/') {
			snprintf(t->filter, sizeof(t->filter), "%s", t->input);
			t->top = 0;
			return TUI_REDRAW;
		}
		snprintf(t->typed, sizeof(t->typed), "%s", t->input);
		*text = t->typed;
		return TUI_THRESHOLD;
	}
	if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && t->ninput)
		t->input[--t->ninput] = '\0';
	else if (ch >= 32 && ch < 127 && t->ninput + 1 < sizeof(t->input)) {
		t->input[t->ninput++] = (char)ch;
		t->input[t->ninput] = '\0';
	}
	return TUI_REDRAW;
}

enum tui_action tui_key(struct tui *t, const char **text)
{
	const struct binding *b = NULL;
	int ch = getch();
	long page = t->nvisible ? (long)t->nvisible : 10;

	*text = NULL;
	if (ch == ERR)
		return TUI_NONE;
	if (ch == KEY_RESIZE)
		return TUI_REDRAW;
	if (t->prompt)
		return prompt_key(t, ch, text);
	if (t->view == VIEW_HELP) {
		t->view = t->back;
		return TUI_REDRAW;
	}
	for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]) && !b; i++)
		for (int k = 0; k < 3 && bindings[i].keys[k]; k++)
			if (bindings[i].keys[k] == ch)
				b = &bindings[i];
	if (!b)
		return TUI_NONE;
	switch (b->act) {
	case K_UP: move_sel(t, -1); break;
	case K_DOWN: move_sel(t, 1); break;
	case K_PGUP: move_sel(t, -page); break;
	case K_PGDN: move_sel(t, page); break;
	case K_HOME: move_sel(t, -(1L << 30)); break;
	case K_END: move_sel(t, 1L << 30); break;
	case K_DETAIL:
		if (t->view == VIEW_MAIN) {
			t->view = VIEW_DETAIL;
			t->scroll = 0;
		}
		break;
	case K_BACK: t->view = VIEW_MAIN; break;
	case K_SORT_NEXT: t->sort = (enum top_col)((t->sort + 1) % TOP_COL_COUNT); break;
	case K_SORT_LEFT: t->sort = (enum top_col)((t->sort + TOP_COL_COUNT - 1) % TOP_COL_COUNT); break;
	case K_SORT_RIGHT: t->sort = (enum top_col)((t->sort + 1) % TOP_COL_COUNT); break;
	case K_FILTER:
	case K_THRESHOLD:
		t->prompt = b->act == K_FILTER ? '/' : 't';
		t->ninput = 0;
		t->input[0] = '\0';
		break;
	case K_HELP:
		t->back = t->view;
		t->view = VIEW_HELP;
		break;
	case K_QUIT: return TUI_QUIT;
	case K_PAUSE: return TUI_PAUSE;
	case K_RESET: return TUI_RESET;
	case K_FLAME: return TUI_FLAME;
	}
	return TUI_REDRAW;
}
