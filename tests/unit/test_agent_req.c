/* Unit tests: the agent's request checking and base64 (guest-init/agent_req.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest-init/agent_req.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	if (!j)
		fail_msg("test JSON: %s: %s", text, jerr.text);
	return j;
}

struct load_case {
	const char *text;
	const char *op;	 /* NULL: refused */
	const char *why; /* substring of the reason */
};

static const struct load_case load_cases[] = {
    {"{\"op\":\"ping\"}", "ping", NULL},
    {"{\"op\":\"ping\",\"extra\":[1,{}]}", "ping", NULL},
    {"  {\"op\" : \"exec\"}\n", "exec", NULL},
    {"", NULL, "bad JSON"},
    {"{", NULL, "bad JSON"},
    {"{\"op\":\"ping\"} x", NULL, "bad JSON"},
    {"[1,2]", NULL, "JSON object"},
    {"\"ping\"", NULL, "bad JSON"}, /* jansson refuses a bare value at top level */
    {"{}", NULL, "op: required"},
    {"{\"op\":null}", NULL, "op: required"},
    {"{\"op\":3}", NULL, "op: must be a string"},
    {"{\"op\":\"ping\",\"op\":\"exec\"}", NULL, "duplicate"},
    {"{\"op\":\"p\\u0000ing\"}", NULL, "bad JSON"},
    {"{\"op\":\"\xff\"}", NULL, "bad JSON"},
};

static void test_agent_req_load(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(load_cases); i++) {
		const struct load_case *c = &load_cases[i];
		struct req_err e = {""};
		const char *op;
		json_t *req = req_load((const uint8_t *)c->text, strlen(c->text), &op, &e);

		print_message("%-36s -> %s %s\n", c->text, req ? op : "refused", req ? "" : e.msg);
		if (c->op) {
			assert_non_null(req);
			assert_string_equal(op, c->op);
		} else {
			assert_null(req);
			assert_non_null(strstr(e.msg, c->why));
		}
		json_decref(req);
	}
}

struct exec_case {
	const char *text;
	bool pty;
	const char *why; /* NULL: accepted */
};

static const struct exec_case exec_bad[] = {
    {"{}", false, "argv: required"},
    {"{\"argv\":[]}", false, "argv: required"},
    {"{\"argv\":\"ls\"}", false, "argv: must be an array"},
    {"{\"argv\":[1]}", false, "argv[0]"},
    {"{\"argv\":[\"\"]}", false, "argv[0]: must not be empty"},
    {"{\"argv\":[\"ls\",null]}", false, "argv[1]"},
    {"{\"argv\":[\"ls\"],\"env\":[\"NOEQUALS\"]}", false, "env[0]"},
    {"{\"argv\":[\"ls\"],\"env\":[\"=v\"]}", false, "env[0]"},
    {"{\"argv\":[\"ls\"],\"env\":{\"A\":\"b\"}}", false, "env: must be an array"},
    {"{\"argv\":[\"ls\"],\"cwd\":\"tmp\"}", false, "cwd: must be an absolute path"},
    {"{\"argv\":[\"ls\"],\"cwd\":5}", false, "cwd: must be a string"},
    {"{\"argv\":[\"ls\"],\"uid\":-1}", false, "uid: must be"},
    {"{\"argv\":[\"ls\"],\"uid\":4294967295}", false, "uid: must be"},
    {"{\"argv\":[\"ls\"],\"uid\":1.5}", false, "uid: must be an integer"},
    {"{\"argv\":[\"ls\"],\"gid\":\"0\"}", false, "gid: must be an integer"},
    {"{\"argv\":[\"ls\"],\"timeout_ms\":-5}", false, "timeout_ms"},
    {"{\"argv\":[\"ls\"],\"timeout_ms\":99999999999999}", false, "timeout_ms"},
    {"{\"argv\":[\"ls\"],\"stdin\":1}", false, "stdin: must be true or false"},
    {"{\"rows\":0}", true, "rows"},
    {"{\"cols\":65536}", true, "cols"},
    {"{\"term\":\"\"}", true, "term: must not be empty"},
    {"{\"argv\":[]}", true, "argv: required"},
};

static void test_agent_req_exec_refused(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(exec_bad); i++) {
		struct req_err e = {""};
		struct req_exec r;
		json_t *req = parse(exec_bad[i].text);
		int rc = req_exec_parse(req, exec_bad[i].pty, &r, &e);

		print_message("%-50s -> %s\n", exec_bad[i].text, e.msg);
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(e.msg, exec_bad[i].why));
		assert_null(r.argv); /* freed on failure */
		json_decref(req);
	}
}

static void test_agent_req_exec_fields(void **state)
{
	json_t *req =
	    parse("{\"op\":\"exec\",\"argv\":[\"sh\",\"-c\",\"\"],\"env\":[\"A=1\",\"B=\"],"
		  "\"cwd\":\"/tmp\",\"uid\":1000,\"gid\":0,\"timeout_ms\":2500,"
		  "\"stdin\":false,\"unknown\":true}");
	struct req_err e;
	struct req_exec r;

	assert_int_equal(req_exec_parse(req, false, &r, &e), 0);
	assert_string_equal(r.argv[0], "sh");
	assert_string_equal(r.argv[2], "");
	assert_null(r.argv[3]);
	assert_string_equal(r.env[1], "B=");
	assert_null(r.env[2]);
	assert_string_equal(r.cwd, "/tmp");
	assert_true(r.has_uid && r.has_gid);
	assert_int_equal(r.uid, 1000);
	assert_int_equal(r.gid, 0);
	assert_int_equal(r.timeout_ms, 2500);
	assert_false(r.stdin_open);
	req_exec_free(&r);
	json_decref(req);
}

static void test_agent_req_exec_defaults(void **state)
{
	json_t *req = parse("{\"argv\":[\"ls\"],\"cwd\":null}");
	struct req_err e;
	struct req_exec r;

	assert_int_equal(req_exec_parse(req, false, &r, &e), 0);
	assert_null(r.env);
	assert_null(r.cwd);
	assert_false(r.has_uid || r.has_gid);
	assert_int_equal(r.timeout_ms, 0);
	assert_true(r.stdin_open);
	req_exec_free(&r);
	json_decref(req);
	req = parse("{\"op\":\"pty\"}");
	assert_int_equal(req_exec_parse(req, true, &r, &e), 0);
	assert_string_equal(r.argv[0], "/bin/sh");
	assert_null(r.argv[1]);
	assert_int_equal(r.rows, 24);
	assert_int_equal(r.cols, 80);
	assert_string_equal(r.term, "xterm-256color");
	req_exec_free(&r);
	json_decref(req);
	req = parse("{\"rows\":50,\"cols\":200,\"term\":\"vt100\"}");
	assert_int_equal(req_exec_parse(req, true, &r, &e), 0);
	assert_int_equal(r.rows, 50);
	assert_int_equal(r.cols, 200);
	assert_string_equal(r.term, "vt100");
	req_exec_free(&r);
	json_decref(req);
}

static void test_agent_req_signal_resize(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} sig_cases[] = {
	    {"{\"signal\":15}", 0},
	    {"{\"signal\":1}", 0},
	    {"{\"signal\":64}", 0},
	    {"{\"signal\":0}", -EINVAL},
	    {"{\"signal\":65}", -EINVAL},
	    {"{}", -EINVAL},
	    {"{\"signal\":\"TERM\"}", -EINVAL},
	};
	unsigned rows, cols;
	struct req_err e;
	json_t *req;
	int sig;

	for (size_t i = 0; i < ARRAY_SIZE(sig_cases); i++) {
		req = parse(sig_cases[i].text);
		assert_int_equal(req_signal_parse(req, &sig, &e), sig_cases[i].rc);
		json_decref(req);
	}
	req = parse("{\"rows\":40,\"cols\":120}");
	assert_int_equal(req_resize_parse(req, &rows, &cols, &e), 0);
	assert_int_equal(rows, 40);
	assert_int_equal(cols, 120);
	json_decref(req);
	req = parse("{\"rows\":40}");
	assert_int_equal(req_resize_parse(req, &rows, &cols, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "cols: required"));
	json_decref(req);
}

static void test_agent_req_file(void **state)
{
	struct req_err e;
	struct req_file r;
	json_t *req;

	req = parse("{\"path\":\"/a/b\",\"mode\":493,\"uid\":5,\"recursive\":true}");
	assert_int_equal(req_file_parse(req, "file_write", &r, &e), 0);
	assert_string_equal(r.path, "/a/b");
	assert_int_equal(r.mode, 0755);
	assert_true(r.has_uid && !r.has_gid);
	assert_false(r.recursive); /* only for remove */
	assert_int_equal(req_file_parse(req, "remove", &r, &e), 0);
	assert_true(r.recursive);
	assert_int_equal(r.mode, 0644); /* mode is file_write's */
	json_decref(req);
	req = parse("{\"path\":\"/x\",\"mode\":4096}");
	assert_int_equal(req_file_parse(req, "file_write", &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "mode"));
	assert_int_equal(req_file_parse(req, "stat", &r, &e), 0); /* ignored there */
	json_decref(req);
	req = parse("{\"path\":\"rel/x\"}");
	assert_int_equal(req_file_parse(req, "stat", &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "absolute"));
	json_decref(req);
	req = parse("{}");
	assert_int_equal(req_file_parse(req, "list", &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "path: required"));
	json_decref(req);
}

static void test_agent_req_path_too_long(void **state)
{
	char *text = malloc(REQ_PATH_MAX + 64);
	struct req_err e;
	struct req_file r;
	json_t *req;

	assert_non_null(text);
	strcpy(text, "{\"path\":\"/");
	memset(text + 10, 'a', REQ_PATH_MAX);
	strcpy(text + 10 + REQ_PATH_MAX, "\"}");
	req = parse(text);
	assert_int_equal(req_file_parse(req, "stat", &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "longer than"));
	json_decref(req);
	free(text);
}

static void test_agent_req_relay_ready(void **state)
{
	struct req_relay rl;
	struct req_ready rd;
	struct req_err e;
	json_t *req;

	req = parse("{\"port\":8080}");
	assert_int_equal(req_relay_parse(req, &rl, &e), 0);
	assert_int_equal(rl.port, 8080);
	assert_string_equal(rl.host, "127.0.0.1");
	assert_int_equal(req_ready_parse(req, &rd, &e), 0);
	assert_true(rd.has_port);
	assert_int_equal(rd.timeout_ms, 10000);
	json_decref(req);
	req = parse("{\"port\":1,\"host\":\"::1\"}");
	assert_int_equal(req_relay_parse(req, &rl, &e), 0);
	json_decref(req);
	req = parse("{\"port\":1,\"host\":\"localhost\"}");
	assert_int_equal(req_relay_parse(req, &rl, &e), -EINVAL);
	json_decref(req);
	req = parse("{\"port\":0}");
	assert_int_equal(req_relay_parse(req, &rl, &e), -EINVAL);
	assert_int_equal(req_ready_parse(req, &rd, &e), -EINVAL);
	json_decref(req);
	req = parse("{\"port\":65536}");
	assert_int_equal(req_relay_parse(req, &rl, &e), -EINVAL);
	json_decref(req);
	req = parse("{}");
	assert_int_equal(req_relay_parse(req, &rl, &e), -EINVAL);
	assert_int_equal(req_ready_parse(req, &rd, &e), 0);
	assert_false(rd.has_port);
	json_decref(req);
	req = parse("{\"timeout_ms\":0}");
	assert_int_equal(req_ready_parse(req, &rd, &e), 0);
	assert_int_equal(rd.timeout_ms, 0);
	json_decref(req);
}

static void test_agent_req_restored(void **state)
{
	struct req_restored r;
	struct req_err e;
	char text[2048], b64[1024];
	json_t *req;

	/* 32 zero bytes: 44 chars of base64 ("AAAA..." + "A=") */
	memset(b64, 'A', 43);
	strcpy(b64 + 43, "=");
	snprintf(text, sizeof(text), "{\"entropy\":\"%s\",\"time_ns\":1700000000123456789}", b64);
	req = parse(text);
	assert_int_equal(req_restored_parse(req, &r, &e), 0);
	assert_true(r.has_entropy && r.has_time);
	assert_int_equal(r.entropy_len, 32);
	assert_int_equal(r.time_ns, 1700000000123456789LL);
	json_decref(req);
	/* 31 bytes: too few */
	memset(b64, 'A', 42);
	strcpy(b64 + 40, "AA==");
	snprintf(text, sizeof(text), "{\"entropy\":\"%s\"}", b64);
	req = parse(text);
	assert_int_equal(req_restored_parse(req, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "32..512"));
	json_decref(req);
	req = parse("{\"entropy\":\"not base64!\"}");
	assert_int_equal(req_restored_parse(req, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not base64"));
	json_decref(req);
	req = parse("{\"time_ns\":-1}");
	assert_int_equal(req_restored_parse(req, &r, &e), -EINVAL);
	json_decref(req);
	req = parse("{}");
	assert_int_equal(req_restored_parse(req, &r, &e), 0);
	assert_false(r.has_entropy || r.has_time);
	json_decref(req);
}

/* 513 bytes of base64 is refused as too many, not cut. */
static void test_agent_req_restored_too_much(void **state)
{
	char text[1024];
	struct req_restored r;
	struct req_err e;
	json_t *req;

	strcpy(text, "{\"entropy\":\"");
	memset(text + 12, 'A', 684); /* 684 chars: 513 bytes */
	strcpy(text + 12 + 684, "\"}");
	req = parse(text);
	assert_int_equal(req_restored_parse(req, &r, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "32..512"));
	json_decref(req);
}

struct b64_case {
	const char *in;
	long rc;
	const char *out;
};

static const struct b64_case b64_cases[] = {
    {"", 0, ""},
    {"Zg==", 1, "f"},
    {"Zm8=", 2, "fo"},
    {"Zm9v", 3, "foo"},
    {"Zm9vYg==", 4, "foob"},
    {"Zm9vYmE=", 5, "fooba"},
    {"Zm9vYmFy", 6, "foobar"},
    {"Zg", 1, "f"}, /* padding optional */
    {"Zm8", 2, "fo"},
    {"Zm9vYmE", 5, "fooba"},
    {"+/+/", 3, "\xfb\xff\xbf"},
    {"Z", -EINVAL, NULL},
    {"Zg=", -EINVAL, NULL}, /* partial padding */
    {"Zg===", -EINVAL, NULL},
    {"Zm9v=", -EINVAL, NULL},
    {"=", -EINVAL, NULL},
    {"Zh==", -EINVAL, NULL}, /* non-zero leftover bits */
    {"Zm9", -EINVAL, NULL},  /* "Zm9" leaves bits set */
    {"Zm 9v", -EINVAL, NULL},
    {"Zm9v\n", -EINVAL, NULL},
    {"Zm-v", -EINVAL, NULL}, /* base64url is not accepted */
    {"Zg==Zg==", -EINVAL, NULL},
};

static void test_agent_req_b64(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(b64_cases); i++) {
		const struct b64_case *c = &b64_cases[i];
		uint8_t out[16];
		long rc = b64_decode(c->in, strlen(c->in), out, sizeof(out));

		print_message("%-10s -> %ld\n", c->in, rc);
		assert_int_equal(rc, c->rc);
		if (rc > 0)
			assert_memory_equal(out, c->out, (size_t)rc);
	}
}

static void test_agent_req_b64_cap(void **state)
{
	uint8_t out[5];

	assert_int_equal(b64_decode("Zm9vYmE=", 8, out, 5), 5);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 5), -E2BIG);
	assert_int_equal(b64_decode("Zm9v", 4, out, 0), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_req_load),
	    cmocka_unit_test(test_agent_req_exec_refused),
	    cmocka_unit_test(test_agent_req_exec_fields),
	    cmocka_unit_test(test_agent_req_exec_defaults),
	    cmocka_unit_test(test_agent_req_signal_resize),
	    cmocka_unit_test(test_agent_req_file),
	    cmocka_unit_test(test_agent_req_path_too_long),
	    cmocka_unit_test(test_agent_req_relay_ready),
	    cmocka_unit_test(test_agent_req_restored),
	    cmocka_unit_test(test_agent_req_restored_too_much),
	    cmocka_unit_test(test_agent_req_b64),
	    cmocka_unit_test(test_agent_req_b64_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
