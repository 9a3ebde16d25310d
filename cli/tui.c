/*
 * latscope top's ncurses screen: a main table, a detail view and a help
 * screen, from one view table and one key table. The views format lines
 * whose characters carry what they stand for (enum top_attr); this file only
 * gives each attribute its curses look and draws.
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum view { VIEW_MAIN, VIEW_DETAIL, VIEW_HELP };

/* Actions of the key table: the views handle them, or hand them to the caller (enum tui_action). */
enum key_act {
	K_UP, K_DOWN, K_PGUP, K_PGDN, K_HOME, K_END, K_DETAIL, K_BACK, K_SORT_NEXT, K_SORT_LEFT, K_SORT_RIGHT,
	K_FILTER, K_HELP, K_THRESHOLD, K_QUIT, K_PAUSE, K_RESET, K_FLAME,
};

struct binding {
	int keys[3];          /* 0-terminated */
	const char *names;    /* as the help screen shows them; footers show the first */
	enum key_act act;
	const char *hint;     /* a footer's word for it; bindings next in a footer with one hint share it */
	const char *what;     /* the help screen's line */
};

static const struct binding bindings[] = {
	{ { 'q', 0 }, "q", K_QUIT, "quit", "quit (probes are detached)" },
	{ { KEY_UP, 'k', 0 }, "Up k", K_UP, "scroll", "select the previous row / scroll up" },
	{ { KEY_DOWN, 'j', 0 }, "Down j", K_DOWN, "scroll", "select the next row / scroll down" },
	{ { KEY_PPAGE, 0 }, "PgUp", K_PGUP, "scroll", "one page up" },
	{ { KEY_NPAGE, ' ', 0 }, "PgDn Space", K_PGDN, "scroll", "one page down" },
	{ { KEY_HOME, 'g', 0 }, "Home g", K_HOME, "scroll", "first row" },
	{ { KEY_END, 'G', 0 }, "End G", K_END, "scroll", "last row" },
	{ { '\n', KEY_ENTER, '\r' }, "Enter", K_DETAIL, "detail", "detail of the selected row" },
	{ { 27, KEY_BACKSPACE, 0 }, "Esc", K_BACK, "back", "back to the table" },
	{ { 's', 0 }, "s", K_SORT_NEXT, "sort", "sort by the next column (PID, METHOD ascending; others largest first)" },
	{ { '<', 0 }, "<", K_SORT_LEFT, "sort", "sort by the column to the left" },
	{ { '>', 0 }, ">", K_SORT_RIGHT, "sort", "sort by the column to the right" },
	{ { '/', 0 }, "/", K_FILTER, "filter", "show only methods containing a text (empty: all)" },
	{ { 't', 0 }, "t", K_THRESHOLD, "threshold", "change the slow-request threshold (10ms, 500us, ...)" },
	{ { 'p', 0 }, "p", K_PAUSE, "pause", "pause the screen (data keeps being collected)" },
	{ { 'r', 0 }, "r", K_RESET, "reset", "reset the statistics" },
	{ { 'f', 0 }, "f", K_FLAME, "flame graph",
	  "write a flame graph of the CPU samples so far (file named in the status line)" },
	{ { 'h', '?', KEY_F(1) }, "h ? F1", K_HELP, "help", "this help" },
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

/* A view: how it draws, which keys it takes and which of them its footer shows. */
struct view_def {
	const char *name;
	int needs_snap;               /* draws a snapshot: "attaching..." until the first */
	void (*draw)(struct tui *t, const struct top_snap *snap, const char *status);
	/* A key's binding, NULL for a key bound to nothing; returns what the caller is to do. */
	enum tui_action (*key)(struct tui *t, const struct binding *b);
	const enum key_act *footer;   /* in order; keys of one hint in a row share it ("s/</> sort") */
	size_t nfooter;
};

static void draw_main(struct tui *t, const struct top_snap *snap, const char *status);
static void draw_detail(struct tui *t, const struct top_snap *snap, const char *status);
static void draw_help(struct tui *t, const struct top_snap *snap, const char *status);
static enum tui_action main_key(struct tui *t, const struct binding *b);
static enum tui_action detail_key(struct tui *t, const struct binding *b);
static enum tui_action help_key(struct tui *t, const struct binding *b);

static const enum key_act main_footer[] = {
	K_QUIT, K_DETAIL, K_BACK, K_SORT_NEXT, K_SORT_LEFT, K_SORT_RIGHT, K_FILTER, K_THRESHOLD, K_PAUSE, K_RESET,
	K_FLAME, K_HELP,
};
static const enum key_act detail_footer[] = {
	K_BACK, K_UP, K_DOWN, K_PGUP, K_PGDN, K_FLAME, K_THRESHOLD, K_PAUSE, K_QUIT,
};

static const struct view_def views[] = {
	[VIEW_MAIN] = { "main", 1, draw_main, main_key, main_footer, NELEM(main_footer) },
	[VIEW_DETAIL] = { "detail", 1, draw_detail, detail_key, detail_footer, NELEM(detail_footer) },
	[VIEW_HELP] = { "help", 0, draw_help, help_key, NULL, 0 },
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

static const struct binding *binding_of_key(int ch)
{
	for (size_t i = 0; i < NELEM(bindings); i++)
		for (int k = 0; k < 3 && bindings[i].keys[k]; k++)
			if (bindings[i].keys[k] == ch)
				return &bindings[i];
	return NULL;
}

static const struct binding *binding_of_act(enum key_act a)
{
	for (size_t i = 0; i < NELEM(bindings); i++)
		if (bindings[i].act == a)
			return &bindings[i];
	return NULL;
}

/* The current view's footer, from the key table: "q quit  Enter detail  ...  s/</> sort  ...". */
static void draw_footer(struct tui *t)
{
	const struct view_def *v = &views[t->view];
	struct top_line l;

	top_line_init(&l, TOP_ATTR_NONE);
	for (size_t i = 0; i < v->nfooter; i++) {
		const struct binding *b = binding_of_act(v->footer[i]);
		const struct binding *next = i + 1 < v->nfooter ? binding_of_act(v->footer[i + 1]) : NULL;

		top_line_put(&l, TOP_ATTR_DIM, "%.*s", (int)strcspn(b->names, " "), b->names);
		if (next && !strcmp(next->hint, b->hint))
			top_line_put(&l, TOP_ATTR_DIM, "/");
		else
			top_line_put(&l, TOP_ATTR_DIM, " %s%s", b->hint, next ? "  " : "");
	}
	draw_line(t, LINES - 1, &l);
}

static void draw_row(struct tui *t, int y, const struct top_row *r, int selected)
{
	struct top_line l;

	top_fmt_row(r, COLS, selected, &l);
	draw_line(t, y, &l);
}

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
	draw_footer(t);
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
	draw_footer(t);
}

static void draw_help(struct tui *t, const struct top_snap *snap, const char *status)
{
	int y = 2;

	(void)t;
	(void)snap;
	(void)status;
	mvaddstr(0, 0, "latscope top: keys (any key returns)");
	for (size_t i = 0; i < NELEM(bindings) && y < LINES - 1; i++, y++)
		mvprintw(y, 2, "%-12s %s", bindings[i].names, bindings[i].what);
	if (y + 1 < LINES - 1)
		mvaddstr(y + 1, 2, "Phase bars show where the p99 request of each row's recent requests spent its time.");
}

void tui_draw(struct tui *t, const struct top_snap *snap, const char *status)
{
	const struct view_def *v = &views[t->view];

	erase();
	if (COLS < MIN_COLS || LINES < MIN_LINES) {
		mvprintw(0, 0, "terminal too small (%dx%d, need %dx%d)", COLS, LINES, MIN_COLS, MIN_LINES);
	} else if (!snap && v->needs_snap) {
		mvaddstr(0, 0, "latscope top: attaching...");
		draw_status(t, 2, status);
	} else {
		v->draw(t, snap, status);
	}
	refresh();
}

/* How far a movement key moves the selection or the scroll: a line, a page or to an end. 0: not one. */
static long move_step(const struct tui *t, enum key_act a)
{
	long page = t->nvisible ? (long)t->nvisible : 10;

	switch (a) {
	case K_UP: return -1;
	case K_DOWN: return 1;
	case K_PGUP: return -page;
	case K_PGDN: return page;
	case K_HOME: return -(1L << 30);
	case K_END: return 1L << 30;
	default: return 0;
	}
}

/* Keys the table and the detail view take alike: sorting, prompts, help, and the caller's actions. */
static enum tui_action common_key(struct tui *t, const struct binding *b)
{
	switch (b->act) {
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
	default: break;
	}
	return TUI_REDRAW;
}

/* The table: movement keys move the selection, Enter opens its detail. */
static enum tui_action main_key(struct tui *t, const struct binding *b)
{
	long d, s;

	if (!b)
		return TUI_NONE;
	d = move_step(t, b->act);
	if (d) {
		/* The new selection is resolved at the next draw, from the index in the drawn order. */
		s = (long)t->sel + d;
		t->sel = s < 0 ? 0 : (size_t)s;
		t->sel_pid = -2; /* marks "by index" */
		return TUI_REDRAW;
	}
	if (b->act == K_DETAIL) {
		t->view = VIEW_DETAIL;
		t->scroll = 0;
		return TUI_REDRAW;
	}
	return common_key(t, b);
}

/* The detail view: movement keys scroll it. */
static enum tui_action detail_key(struct tui *t, const struct binding *b)
{
	long d, s;

	if (!b)
		return TUI_NONE;
	d = move_step(t, b->act);
	if (d) {
		s = (long)t->scroll + d;
		t->scroll = s < 0 ? 0 : (size_t)s;
		return TUI_REDRAW;
	}
	return common_key(t, b);
}

/* Help: any key, bound or not, returns to the view it was opened from. */
static enum tui_action help_key(struct tui *t, const struct binding *b)
{
	(void)b;
	t->view = t->back;
	return TUI_REDRAW;
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
	int ch = getch();

	*text = NULL;
	if (ch == ERR)
		return TUI_NONE;
	if (ch == KEY_RESIZE)
		return TUI_REDRAW;
	if (t->prompt)
		return prompt_key(t, ch, text);
	return views[t->view].key(t, binding_of_key(ch));
}
