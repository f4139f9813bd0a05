/* libFuzzer target for guest-init/cmdline.c, checked against a model of the kernel's next_arg(). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-init/cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: the command line bytes as /proc/cmdline gives them (NUL bytes
 * included; the first one ends the text).
 *
 * cmdline.h promises to split and unquote exactly like the kernel's
 * next_arg() (lib/cmdline.c). The model below does what that function does,
 * the way it does it: in place on a NUL-terminated copy, cutting with NULs.
 * Every parameter cmdline_next() yields, and what cmdline_parse() makes of
 * them, must match the model.
 */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_cmdline: %s:%d: check failed: %s\n", __FILE__,       \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The kernel's isspace(): _S in lib/ctype.c, ASCII whitespace and 0xA0. */
static bool k_isspace(char c)
{
	unsigned char u = (unsigned char)c;

	return u == ' ' || (u >= '\t' && u <= '\r') || u == 0xa0;
}

static char *k_skip_spaces(char *s)
{
	while (k_isspace(*s))
		s++;
	return s;
}

/* Model of next_arg(): the parameter at args; returns where the next one starts. */
static char *model_next_arg(char *args, char **param, char **val)
{
	size_t i, equals = 0;
	bool in_quote = false, quoted = false;

	if (*args == '"') {
		args++;
		in_quote = quoted = true;
	}
	for (i = 0; args[i]; i++) {
		if (k_isspace(args[i]) && !in_quote)
			break;
		/* An '=' at index 0 leaves equals at 0, "none yet": the search goes on. */
		if (equals == 0 && args[i] == '=')
			equals = i;
		if (args[i] == '"')
			in_quote = !in_quote;
	}
	*param = args;
	if (!equals) {
		*val = NULL;
	} else {
		args[equals] = '\0';
		*val = args + equals + 1;
		if (**val == '"') { /* no quotes in the value */
			(*val)++;
			if (args[i - 1] == '"')
				args[i - 1] = '\0';
		}
	}
	if (quoted && i > 0 && args[i - 1] == '"')
		args[i - 1] = '\0';
	if (args[i]) {
		args[i] = '\0';
		args += i + 1;
	} else {
		args += i;
	}
	return k_skip_spaces(args);
}

/* Model of parameq(): '-' and '_' are the same. */
static bool model_parameq(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;

		if (x != y)
			return false;
		if (!x)
			return true;
	}
}

static bool span_is(const char *p, size_t len, const char *s)
{
	return strlen(s) == len && !memcmp(p, s, len);
}

static void mismatch(int i, const struct cmdline_param *p, const char *key, const char *val)
{
	fprintf(stderr,
		"fuzz_cmdline: parameter %d: cmdline_next() key \"%.*s\" val %s%.*s%s\n"
		"  kernel next_arg(): key \"%s\" val %s%s%s\n",
		i, (int)p->key_len, p->key, p->val ? "\"" : "", p->val ? (int)p->val_len : 4,
		p->val ? p->val : "NULL", p->val ? "\"" : "", key, val ? "\"" : "",
		val ? val : "NULL", val ? "\"" : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmdline out;
	char *text, *copy, *args, *key, *val;
	const char *end, *want_run = NULL;
	bool too_long = false;
	struct cmdline_iter it;
	struct cmdline_param p;
	bool stopped = false;
	int i = 0, rc;

	/* The text in its own exact-size allocation, so ASan sees any over-read. */
	text = malloc(size ? size : 1);
	copy = malloc(size + 1);
	CHECK(text && copy);
	memcpy(text, data, size);
	memcpy(copy, data, size);
	copy[size] = '\0';
	end = text + size;

	cmdline_iter_init(&it, text, size);
	args = k_skip_spaces(copy);
	while (cmdline_next(&it, &p)) {
		CHECK((size_t)i < size);
		CHECK(p.key >= text && p.key + p.key_len <= end);
		CHECK(!p.val || (p.val >= text && p.val + p.val_len <= end));
		if (!*args)
			fprintf(stderr, "fuzz_cmdline: parameter %d: the kernel sees no more\n", i);
		CHECK(*args);
		args = model_next_arg(args, &key, &val);
		if (!span_is(p.key, p.key_len, key) || !p.val != !val ||
		    (val && !span_is(p.val, p.val_len, val))) {
			mismatch(i, &p, key, val);
			abort();
		}
		CHECK(cmdline_key_is(&p, key));
		CHECK(cmdline_key_is(&p, "torpor.run") == model_parameq(key, "torpor.run"));
		CHECK(cmdline_key_is(&p, "torpor-run") == model_parameq(key, "torpor-run"));
		/* What cmdline_parse() should take: the last torpor.run=, up to "--". */
		if (!stopped && !val && !strcmp(key, "--"))
			stopped = true;
		if (!stopped && val && model_parameq(key, "torpor.run")) {
			want_run = val;
			too_long |= strlen(val) >= CMDLINE_RUN_MAX; /* refused, whichever it is */
		}
		i++;
	}
	if (*args)
		fprintf(stderr, "fuzz_cmdline: the kernel sees more after %d parameters: \"%s\"\n",
			i, args);
	CHECK(!*args);

	rc = cmdline_parse(text, size, &out);
	if (too_long) {
		CHECK(rc == -E2BIG);
		CHECK(!out.has_run);
	} else {
		CHECK(rc == 0);
		CHECK(out.has_run == !!want_run);
		if (want_run && strcmp(out.run, want_run)) {
			fprintf(stderr, "fuzz_cmdline: torpor.run \"%s\", kernel says \"%s\"\n",
				out.run, want_run);
			abort();
		}
	}
	free(text);
	free(copy);
	return 0;
}
