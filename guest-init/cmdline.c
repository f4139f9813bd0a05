/* Kernel command line parsing: splitting, unquoting and guest-init's parameters (no I/O). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "cmdline.h"

/* The kernel's isspace() (lib/ctype.c): ASCII whitespace and 0xA0 (Latin-1 NBSP); no locale. */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (unsigned char)c == 0xa0;
}

void cmdline_iter_init(struct cmdline_iter *it, const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);

	it->pos = text;
	it->end = nul ? nul : text + len;
}

/* Fill p from the token [s, tok_end): eq is its first '=' or NULL, quoted if it began with '"'. */
static void split_token(const char *s, const char *tok_end, const char *eq, bool quoted,
			struct cmdline_param *p)
{
	/* The kernel cuts a closing quote off the token's end in two cases. */
	bool last_is_quote = tok_end > s && tok_end[-1] == '"';
	const char *cut = tok_end;

	if (quoted && last_is_quote)
		cut = tok_end - 1;
	p->key = s;
	if (!eq) {
		p->key_len = (size_t)(cut - s);
		p->val = NULL;
		p->val_len = 0;
		return;
	}
	p->key_len = (size_t)(eq - s);
	p->val = eq + 1;
	if (p->val < tok_end && *p->val == '"') {
		p->val++;
		if (last_is_quote)
			cut = tok_end - 1;
	}
	p->val_len = cut > p->val ? (size_t)(cut - p->val) : 0;
}

bool cmdline_next(struct cmdline_iter *it, struct cmdline_param *p)
{
	const char *s, *eq = NULL;
	bool quoted = false, in_quote = false;
	const char *q;

	while (it->pos < it->end && is_space(*it->pos))
		it->pos++;
	if (it->pos == it->end)
		return false;
	s = it->pos;
	if (*s == '"') {
		s++;
		quoted = in_quote = true;
	}
	for (q = s; q < it->end; q++) {
		if (is_space(*q) && !in_quote)
			break;
		if (!eq && *q == '=' && q > s)
			eq = q;
		if (*q == '"')
			in_quote = !in_quote;
	}
	split_token(s, q, eq, quoted, p);
	it->pos = q; /* the separator, if any, is skipped on the next call */
	return true;
}

bool cmdline_key_is(const struct cmdline_param *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->key_len; i++) {
		char a = p->key[i] == '-' ? '_' : p->key[i];
		char b = name[i] == '-' ? '_' : name[i];

		if (b == '\0' || a != b)
			return false;
	}
	return name[i] == '\0';
}

static bool is_end_marker(const struct cmdline_param *p)
{
	return !p->val && p->key_len == 2 && p->key[0] == '-' && p->key[1] == '-';
}

/* The torpor.* parameters with a short value, and where each goes in struct cmdline. */
static const struct {
	const char *name;
	size_t off;
} short_params[] = {
	{ "torpor.hostname", offsetof(struct cmdline, hostname) },
	{ "torpor.ip", offsetof(struct cmdline, ip) },
	{ "torpor.gw", offsetof(struct cmdline, gw) },
	{ "torpor.dns", offsetof(struct cmdline, dns) },
};

/* A short torpor.* parameter: copy its value, or note that it was too long. False if p is none. */
static bool take_short(const struct cmdline_param *p, struct cmdline *out)
{
	for (size_t i = 0; i < sizeof(short_params) / sizeof(short_params[0]); i++) {
		char *dst = (char *)out + short_params[i].off;

		if (!cmdline_key_is(p, short_params[i].name))
			continue;
		if (p->val_len >= CMDLINE_VAL_MAX) {
			out->too_long = short_params[i].name;
			return true;
		}
		memcpy(dst, p->val, p->val_len);
		dst[p->val_len] = '\0';
		return true;
	}
	return false;
}

int cmdline_parse(const char *text, size_t len, struct cmdline *out)
{
	struct cmdline_iter it;
	struct cmdline_param p;

	memset(out, 0, sizeof(*out));
	out->root_ro = -1;
	cmdline_iter_init(&it, text, len);
	while (cmdline_next(&it, &p)) {
		if (is_end_marker(&p))
			break;
		if (!p.val) {
			if (cmdline_key_is(&p, "ro") || cmdline_key_is(&p, "rw"))
				out->root_ro = p.key[1] == 'o';
			continue;
		}
		if (take_short(&p, out) || !cmdline_key_is(&p, "torpor.run"))
			continue;
		if (p.val_len >= sizeof(out->run)) {
			out->has_run = false;
			out->run[0] = '\0';
			return -E2BIG;
		}
		memcpy(out->run, p.val, p.val_len);
		out->run[p.val_len] = '\0';
		out->has_run = true;
	}
	return 0;
}
