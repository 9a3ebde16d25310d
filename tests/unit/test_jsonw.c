/* The JSON writer: structure, commas, numbers, and escaping of strings from outside. */
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "check.h"

/* What the writer produced, as a string. */
static char *render(void (*fn)(struct jw *w))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jw w;

	jw_init(&w, f);
	fn(&w);
	fclose(f);
	return buf;
}

static void nested(struct jw *w)
{
	jw_obj(w);
	jw_kstr(w, "type", "request");
	jw_ku64(w, "pid", 42);
	jw_ki64(w, "fd", -1);
	jw_khex(w, "conn", 0xdeadbeefULL);
	jw_key(w, "phases");
	jw_obj(w);
	jw_ku64(w, "a", 1);
	jw_ku64(w, "b", 2);
	jw_obj_end(w);
	jw_key(w, "list");
	jw_arr(w);
	jw_str(w, "x");
	jw_obj(w);
	jw_obj_end(w);
	jw_arr(w);
	jw_arr_end(w);
	jw_null(w);
	jw_arr_end(w);
	jw_kbool(w, "slow", 1);
	jw_kdbl(w, "share", "%.4f", 0.25);
	jw_kstr(w, "none", NULL);
	jw_obj_end(w);
	jw_obj(w);
	jw_obj_end(w);
}

static void hostile(struct jw *w)
{
	jw_obj(w);
	/* A quote, a backslash, a newline, ESC, DEL, a valid two-byte and a valid four-byte character. */
	jw_kstr(w, "method", "G\"E\\T\n\x1b[2J\x7f\xc3\xa9\xf0\x9f\x98\x80");
	/* Invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate, a truncated sequence. */
	jw_kstr(w, "path", "a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82");
	jw_obj_end(w);
}

int main(void)
{
	char *s = render(nested);

	CHECK(s && !strcmp(s, "{\"type\":\"request\",\"pid\":42,\"fd\":-1,\"conn\":\"0xdeadbeef\",\"phases\":{\"a\":1,\"b\":2},"
			      "\"list\":[\"x\",{},[],null],\"slow\":true,\"share\":0.2500,\"none\":null}\n{}\n"),
	      "nesting, commas, numbers and one line per top-level object");
	free(s);
	s = render(hostile);
	CHECK(s && !strcmp(s, "{\"method\":\"G\\\"E\\\\T\\u000a\\u001b[2J\\u007f\xc3\xa9\xf0\x9f\x98\x80\","
			      "\"path\":\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\"}\n"),
	      "quotes, backslashes, control characters and DEL escaped; valid UTF-8 kept, invalid bytes as U+FFFD");
	CHECK(s && !memchr(s, 0x1b, strlen(s)) && !memchr(s, '\n', strlen(s) - 1), "no raw ESC or newline inside the line");
	free(s);
	return failures ? 1 : 0;
}
