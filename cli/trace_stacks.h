/* trace --stacks: a slow request's own stacks, named and folded, as text or JSON. */
#ifndef LS_TRACE_STACKS_H
#define LS_TRACE_STACKS_H

#include "jsonw.h"
#include "profile.h"
#include "reqstacks.h"

struct trace_stacks {
	const struct ls_req_stacks *st;
	struct profile on, off; /* folded lines, heaviest first: samples, and ns off CPU */
};

/* Name st's stacks through sym. 0 or -ENOMEM (out is empty then). */
int trace_stacks_fold(struct ls_session *s, struct ls_symbolizer *sym, const struct ls_req_stacks *st,
		      struct trace_stacks *out);
void trace_stacks_clear(struct trace_stacks *t);
/* Free the names kept from one request to the next. */
void trace_stacks_forget(void);

/* Lines under a request's line: the heaviest max_lines stacks of each kind. */
void trace_stacks_text(const struct trace_stacks *t, size_t max_lines);

/* "stacks": {...} inside a request's object. */
void trace_stacks_json(struct jw *w, const struct trace_stacks *t, uint64_t period_ns, size_t max_lines);

#endif
