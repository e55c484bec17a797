// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include "common.h"
#include "common.h"

/* TEST(in_comment) */
// TEST(in_line_comment)
static const char *s = "TEST(in_string)";
static const char c = '(';

TEST(plain)
{
	if (s) {
		TEST(inside_a_body);
	}
}

FIXTURE(fix) {};
#include "variants.h"

FIXTURE_VARIANT_ADD(fix,
		    second){
	.x = 2,
};

TEST_F(fix, one) {}

TEST_F_FORK(fix,
	    two)
{
}

/* A macro that defines a fixture and its variant, and one that defines tests. */
#define FIXTURE_WITH_VARIANT(f, v) \
	FIXTURE(f) {};             \
	FIXTURE_VARIANT_ADD(f, v) {}
FIXTURE_WITH_VARIANT(wrapped, only)
#define WRAPPED_TEST(n) TEST_F(wrapped, n)
#define LAYOUT_TEST(n) WRAPPED_TEST(n)
LAYOUT_TEST(three) {}

TEST_F_TIMEOUT(fix, slow, 2 * 60) {}
TEST_SIGNAL(sig, SIGABRT) {}
FIXTURE(empty) {};
TEST_F(empty, four) {}

TEST_HARNESS_MAIN
