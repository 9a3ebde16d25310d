#include "flamegraph.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ROW 17      /* pixels per stack level */
#define TOP 60      /* room for the titles and the search line */
#define MIN_W 0.1   /* frames narrower than this (pixels) are not drawn */

/* A node of the merged call tree. */
struct node {
	char *name;
	uint64_t value;
	struct node *child, *next;
};

static struct node *child_of(struct node *parent, const char *name, size_t len)
{
	struct node **p = &parent->child, *n;

	/* Children kept sorted by name: the same input draws the same picture. */
	for (; *p; p = &(*p)->next) {
		int c = strncmp((*p)->name, name, len);

		if (c == 0 && (*p)->name[len] == '\0')
			return *p;
		/* Past it: a greater name, or one that extends it (and so sorts after it). */
		if (c > 0 || c == 0)
			break;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strndup(name, len))) {
		free(n);
		return NULL;
	}
	n->next = *p;
	*p = n;
	return n;
}

static void free_tree(struct node *n)
{
	while (n) {
		struct node *next = n->next;

		free_tree(n->child);
		free(n->name);
		free(n);
		n = next;
	}
}

static int depth_of(const struct node *n)
{
	int d = 0;

	for (const struct node *c = n->child; c; c = c->next) {
		int cd = depth_of(c);

		if (cd > d)
			d = cd;
	}
	return d + 1;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

/* Colour from the name: warm for user code, blue-green for the kernel, grey for synthetic roots. */
static void colour(const char *name, char *out, size_t len)
{
	unsigned int h = 2166136261u;
	size_t l = strlen(name);

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	if (name[0] == '[')
		snprintf(out, len, "rgb(%u,%u,%u)", 170 + h % 40, 170 + h % 40, 190 + h % 40);
	else if (l > 4 && !strcmp(name + l - 4, "_[k]"))
		snprintf(out, len, "rgb(%u,%u,%u)", 60 + h % 60, 160 + (h >> 8) % 60, 160 + (h >> 16) % 60);
	else
		snprintf(out, len, "rgb(%u,%u,%u)", 205 + h % 50, 80 + (h >> 8) % 120, (h >> 16) % 60);
}

static void draw(FILE *f, const struct node *n, double x, int level, int height, double scale, uint64_t total,
		 const char *unit)
{
	double w = (double)n->value * scale, cx = x;
	char fill[32];

	if (w < MIN_W)
		return;
	colour(n->name, fill, sizeof(fill));
	fprintf(f, "<g class=\"f\"><title>");
	xml_text(f, n->name);
	fprintf(f, " (%llu %s, %.2f%%)</title><rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>",
		(unsigned long long)n->value, unit, 100.0 * (double)n->value / (double)total, x,
		TOP + (height - level - 1) * ROW, w, ROW - 1, fill);
	fprintf(f, "<text x=\"%.2f\" y=\"%d\"></text></g>\n", x + 3, TOP + (height - level - 1) * ROW + ROW - 5);
	for (const struct node *c = n->child; c; c = c->next) {
		draw(f, c, cx, level + 1, height, scale, total, unit);
		cx += (double)c->value * scale;
	}
}

static const char script[] =
	"<script><![CDATA[\n"
	"'use strict';\n"
	"const svg = document.documentElement, W = +svg.getAttribute('width');\n"
	"const frames = Array.from(document.querySelectorAll('g.f'));\n"
	"for (const g of frames) { const r = g.querySelector('rect'); g.dataset.x = r.getAttribute('x');\n"
	"  g.dataset.w = r.getAttribute('width'); g.dataset.n = g.querySelector('title').textContent.replace(/ \\([^(]*\\)$/, ''); }\n"
	"function label(g) { const r = g.querySelector('rect'), t = g.querySelector('text'), w = +r.getAttribute('width');\n"
	"  const n = g.dataset.n, fit = Math.floor((w - 6) / 7);\n"
	"  t.textContent = fit < 3 ? '' : (n.length <= fit ? n : n.slice(0, fit - 2) + '..'); }\n"
	"function zoom(target) { const x0 = +target.dataset.x, w0 = +target.dataset.w, y0 = +target.querySelector('rect').getAttribute('y');\n"
	"  for (const g of frames) { const r = g.querySelector('rect'), x = +g.dataset.x, w = +g.dataset.w, y = +r.getAttribute('y');\n"
	"    const inside = x >= x0 - 0.01 && x + w <= x0 + w0 + 0.01, below = y >= y0;\n"
	"    g.style.display = (inside || below) ? '' : 'none';\n"
	"    const nx = inside ? (x - x0) * W / w0 : (below ? 0 : x), nw = inside ? w * W / w0 : (below ? W : w);\n"
	"    r.setAttribute('x', nx); r.setAttribute('width', nw); g.querySelector('text').setAttribute('x', nx + 3);\n"
	"    g.style.opacity = inside ? 1 : 0.5; label(g); } }\n"
	"function reset() { for (const g of frames) { const r = g.querySelector('rect'); g.style.display = ''; g.style.opacity = 1;\n"
	"  r.setAttribute('x', g.dataset.x); r.setAttribute('width', g.dataset.w); g.querySelector('text').setAttribute('x', +g.dataset.x + 3); label(g); } }\n"
	"function search(term) { let hit = 0; const total = +svg.dataset.total, seen = [];\n"
	"  for (const g of frames) { const m = term && g.dataset.n.includes(term); g.querySelector('rect').style.stroke = m ? '#f0f' : '';\n"
	"    g.querySelector('rect').style.strokeWidth = m ? 2 : 0;\n"
	"    if (m && !seen.some(s => +g.dataset.x >= s[0] && +g.dataset.x + +g.dataset.w <= s[1] + 0.01)) { seen.push([+g.dataset.x, +g.dataset.x + +g.dataset.w]); hit += +g.dataset.w; } }\n"
	"  document.getElementById('matched').textContent = term ? 'matched: ' + (100 * hit / W).toFixed(2) + '%' : ''; }\n"
	"svg.addEventListener('click', e => { const g = e.target.closest('g.f'); if (!g) return;\n"
	"  if (+g.dataset.w >= W - 0.01) reset(); else zoom(g); });\n"
	"document.getElementById('search').addEventListener('click', () => { const t = prompt('search frames for'); search(t || ''); });\n"
	"document.addEventListener('keydown', e => { if (e.key === 'Escape') { reset(); search(''); }\n"
	"  if ((e.ctrlKey || e.metaKey) && e.key === 'f') { e.preventDefault(); const t = prompt('search frames for'); search(t || ''); } });\n"
	"for (const g of frames) label(g);\n"
	"]]></script>\n";

int ls_flamegraph_write(FILE *f, const struct ls_folded *lines, size_t n, const struct ls_flame_opts *opts)
{
	struct node root = { .name = "all" };
	unsigned int width = opts && opts->width ? opts->width : 1200;
	const char *unit = opts && opts->unit ? opts->unit : "samples";
	int height, ret = 0;
	double scale;

	for (size_t i = 0; i < n; i++) {
		struct node *cur = &root;
		const char *p = lines[i].stack;

		root.value += lines[i].value;
		while (*p) {
			size_t len = strcspn(p, ";");

			cur = child_of(cur, p, len);
			if (!cur) {
				ret = -ENOMEM;
				goto cleanup;
			}
			cur->value += lines[i].value;
			p += len + (p[len] == ';');
		}
	}
	height = depth_of(&root);
	scale = root.value ? (double)width / (double)root.value : 0;
	fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		   "<svg version=\"1.1\" width=\"%u\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "data-total=\"%llu\" font-family=\"monospace\" font-size=\"12\">\n",
		width, TOP + height * ROW + 10, (unsigned long long)root.value);
	fprintf(f, "<style>g.f:hover rect { stroke: #000; stroke-width: 1; } g.f text { pointer-events: none; }"
		   " #search { cursor: pointer; }</style>\n");
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n<text x=\"10\" y=\"20\" font-size=\"15\">");
	xml_text(f, opts && opts->title ? opts->title : "latscope profile");
	fprintf(f, "</text>\n<text x=\"10\" y=\"38\">");
	xml_text(f, opts && opts->subtitle ? opts->subtitle : "");
	fprintf(f, "</text>\n<text id=\"search\" x=\"%u\" y=\"20\" text-anchor=\"end\">[search]</text>\n"
		   "<text id=\"matched\" x=\"%u\" y=\"38\" text-anchor=\"end\"></text>\n", width - 10, width - 10);
	if (root.value)
		draw(f, &root, 0, 0, height, scale, root.value, unit);
	fputs(script, f);
	fputs("</svg>\n", f);
	if (ferror(f))
		ret = -EIO;
cleanup:
	free_tree(root.child);
	return ret;
}
