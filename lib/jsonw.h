/*
 * The one JSON writer: every JSON line latscope prints is
 * built here. Commas and nesting are tracked, so callers only say what comes
 * next; every string is escaped (quotes, backslashes, control characters,
 * DEL, and invalid UTF-8 as U+FFFD), since many come from the target, its
 * clients or its binaries.
 */
#ifndef LS_JSONW_H
#define LS_JSONW_H

#include <stdint.h>
#include <stdio.h>

#define JW_DEPTH 16

struct jw {
	FILE *f;
	int depth;
	int count[JW_DEPTH]; /* values written so far at each level */
	int after_key;       /* a key was written: the next value needs no comma */
};

void jw_init(struct jw *w, FILE *f);

void jw_obj(struct jw *w);     /* { */
void jw_obj_end(struct jw *w); /* }, and a newline when it closes a top-level object */
void jw_arr(struct jw *w);     /* [ */
void jw_arr_end(struct jw *w); /* ] */
void jw_key(struct jw *w, const char *key);

void jw_str(struct jw *w, const char *s); /* NULL: null */
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_dbl(struct jw *w, const char *fmt, double v); /* fmt: a printf conversion for one double ("%.2f") */
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
void jw_hex(struct jw *w, uint64_t v); /* "0x..." */

/* key and value in one call */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_ku64(struct jw *w, const char *key, uint64_t v);
void jw_ki64(struct jw *w, const char *key, int64_t v);
void jw_kdbl(struct jw *w, const char *key, const char *fmt, double v);
void jw_kbool(struct jw *w, const char *key, int v);
void jw_khex(struct jw *w, const char *key, uint64_t v);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
int jw_utf8_len(const unsigned char *s);

/* Write s as a JSON string literal to f (escaped as above). */
void jw_string(FILE *f, const char *s);

#endif
