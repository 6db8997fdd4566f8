"""C++ checkers written the way public problem archives write them, against the
project's own testlib-compatible header: they compile unchanged and judge right; the
header can be swapped for the real testlib.h (``REWARD_TESTLIB_H``); a checker compiles
once however many tests it judges."""

from __future__ import annotations

from services.domains.code.checkers import BUNDLED_HEADER, HEADER_ENV
from services.scoring import score_item
from tests.test_checkers import answer, cpp_checker, label

# --------------------------------------------------------------------------- archive-style checkers

# Written the way public problem archives write their checkers: read the jury's answer and
# the participant's with the same calls, compare, and say what differs.
ARCHIVE_SUM_CHECKER = """\
#include <testlib.h>
using namespace std;

int main(int argc, char * argv[])
{
    setName("compares one signed 64-bit integer");
    registerTestlibCmd(argc, argv);

    long long ja = ans.readLong();
    long long pa = ouf.readLong();

    if (ja != pa)
        quitf(_wa, "expected %lld, found %lld", ja, pa);

    quitf(_ok, "answer is %lld", ja);
}
"""
ARCHIVE_YESNO_CHECKER = """\
#include "testlib.h"
#include <string>
using namespace std;

const string YES = "YES";
const string NO = "NO";

int main(int argc, char * argv[])
{
    registerTestlibCmd(argc, argv);
    int t = inf.readInt();
    for (int i = 1; i <= t; i++) {
        string ja = upperCase(ans.readWord());
        string pa = upperCase(ouf.readWord());
        if (ja != YES && ja != NO)
            quitf(_fail, "%s or %s expected in answer, but %s found", YES.c_str(), NO.c_str(), compress(ja).c_str());
        if (pa != YES && pa != NO)
            quitf(_pe, "%s or %s expected, but %s found", YES.c_str(), NO.c_str(), compress(pa).c_str());
        if (ja != pa)
            quitf(_wa, "%d%s answer: expected %s, found %s", i, englishEnding(i).c_str(), ja.c_str(), pa.c_str());
    }
    quitf(_ok, "%d token(s)", t);
}
"""
ARCHIVE_LINES_CHECKER = """\
#include "testlib.h"
#include <string>
#include <vector>
using namespace std;

int main(int argc, char * argv[])
{
    registerTestlibCmd(argc, argv);
    int n = 0;
    while (!ans.eof()) {
        string j = ans.readLine();
        if (j.empty() && ans.eof()) break;
        n++;
        if (ouf.eof()) quitf(_wa, "line %d: expected \\"%s\\", found end of file", n, compress(j).c_str());
        string p = ouf.readLine();
        if (trim(p) != trim(j)) expectedButFound(_wa, j, p, "line %d", n);
    }
    quitf(_ok, "%d line(s)", n);
}
"""


def test_archive_style_checkers_compile_against_our_header():
    sums = {"inputs": ["1 2\n", "-5 3\n"], "outputs": ["3\n", "-2\n"]}
    checker = cpp_checker(ARCHIVE_SUM_CHECKER)
    assert (
        score_item(answer("print(sum(map(int, input().split())))"), label(sums, checker))["verdict"]
        == "correct"
    )
    wrong = score_item(answer("print(4)"), label(sums, checker))
    assert wrong["verdict"] == "wrong" and "expected 3, found 4" in wrong["details"]["reason"], wrong
    trailing = score_item(answer("print(sum(map(int, input().split())), 'more')"), label(sums, checker))
    assert trailing["verdict"] == "wrong", trailing  # extra output after the answer is not accepted
    not_a_number = score_item(answer("print('three')"), label(sums, checker))
    assert not_a_number["verdict"] == "wrong" and "three" in not_a_number["details"]["reason"]

    parity = {"inputs": ["3\n1 2 3\n"], "outputs": ["NO\nYES\nNO\n"]}
    checker = cpp_checker(ARCHIVE_YESNO_CHECKER)
    code = "t = int(input())\nfor x in map(int, input().split()):\n    print('yes' if x % 2 == 0 else 'no')"
    assert score_item(answer(code), label(parity, checker))["verdict"] == "correct"  # case ignored
    flipped = score_item(answer(code.replace("== 0", "== 1")), label(parity, checker))
    assert "1st answer: expected NO, found YES" in flipped["details"]["reason"], flipped

    lines = {"inputs": [""], "outputs": ["hello world\nbye\n"]}
    checker = cpp_checker(ARCHIVE_LINES_CHECKER)
    assert (
        score_item(answer("print('hello world  ')\nprint('bye')"), label(lines, checker))["verdict"]
        == "correct"
    )
    other = score_item(answer("print('hello world')\nprint('ciao')"), label(lines, checker))
    assert "expected 'bye', but 'ciao' found" in other["details"]["reason"], other


def test_the_real_header_can_be_named(tmp_path, monkeypatch):
    """REWARD_TESTLIB_H points checkers at another testlib.h (here ours, marked)."""
    header = tmp_path / "testlib.h"
    header.write_text(open(BUNDLED_HEADER).read() + "\n#define NAMED_HEADER 1\n")
    checker = cpp_checker('#include "testlib.h"\nint main(int c, char** v) { registerTestlibCmd(c, v); ouf.readInt();\n'
                          "#ifdef NAMED_HEADER\nquitf(_ok, \"named\");\n#else\nquitf(_wa, \"bundled\");\n#endif\n}\n")  # fmt: skip
    tests = {"inputs": ["1\n"], "outputs": ["1\n"]}
    assert score_item(answer("print(1)"), label(tests, checker))["verdict"] == "wrong"
    monkeypatch.setenv(HEADER_ENV, str(header))
    assert score_item(answer("print(1)"), label(tests, checker))["verdict"] == "correct"


def test_a_checker_compiles_once_per_label():
    import sandbox

    pool = sandbox.get_default_pool()
    tests = {"inputs": [f"{i}\n" for i in range(6)], "outputs": [f"{i}\n" for i in range(6)]}
    source = ARCHIVE_SUM_CHECKER.replace("one signed", "one (compiled once) signed")
    before = len(pool._artifacts)
    result = score_item(answer("print(input())"), label(tests, cpp_checker(source)))
    assert result["verdict"] == "correct" and result["details"]["passed"] == 6
    assert len(pool._artifacts) == before + 1  # six checker runs, one compiled program


KITCHEN_SINK = """\
#include "testlib.h"
#include <string>
#include <vector>
using namespace std;

int main(int argc, char* argv[]) {
    setName("reads with most of the interface");
    registerTestlibCmd(argc, argv);
    int n = inf.readInt(1, 10, "n");
    inf.readEoln();
    vector<long long> a = inf.readLongs(n, -100, 100, "a");
    string word;
    ans.readWordTo(word);
    ans.readLong();
    vector<double> ja = ans.readDoubles(2);
    string name = ouf.readToken("[a-z]+", "name");
    ouf.readSpace();
    long long total = ouf.readLong();
    double x = ouf.readStrictDouble(-1e9, 1e9, 1, 6, "x");
    double y = ouf.readReal();
    ouf.seekEoln();
    ouf.readEoln();
    string line = ouf.readLine("[A-Z ]*", "line");
    quitif(name != lowerCase(upperCase(word)), _wa, "name: expected %s, found %s", word.c_str(), compress(name).c_str());
    long long want = 0;
    for (long long v : a) want += v;
    if (total != want) expectedButFound(_wa, want, total, "the %d%s token", 2, englishEnding(2).c_str());
    ouf.ensuref(doubleCompare(ja[0], x, 1e-6), "x differs by %s", vtos(doubleDelta(ja[0], x)).c_str());
    if (!doubleCompare(ja[1], y, MAX_DOUBLE_ERROR)) expectedButFound(_wa, ja[1], y);
    ensuref(!line.empty(), "the last line is empty");
    if (!ouf.seekEof()) quitf(_pe, "more output: %s", toString(ouf.readToken()).c_str());
    quitf(_ok, "%s, %lld, %s", name.c_str(), total, format("%.2f", x).c_str());
}
"""


def test_a_checker_using_most_of_the_interface():
    tests = {"inputs": ["3\n1 2 -4\n"], "outputs": ["sum -1 0.5 3.25\n"]}
    checker = cpp_checker(KITCHEN_SINK)
    right = "print('sum -1 0.500000 3.2500000001')\nprint('DONE NOW')"
    assert score_item(answer(right), label(tests, checker))["verdict"] == "correct"
    for wrong, says in (
        ("print('sum -1 0.5000000 3.25')\nprint('DONE')", "has the wrong number of digits"),
        ("print('sum -2 0.5 3.25')\nprint('DONE')", "the 2nd token: expected '-1', but '-2' found"),
        ("print('Sum -1 0.5 3.25')\nprint('DONE')", "does not match the pattern"),
        ("print('sum -1 0.6 3.25')\nprint('DONE')", "x differs by"),
        ("print('sum -1 0.5 3.26')\nprint('DONE')", "expected 3.25, but 3.26 found"),
        ("print('sum -1 0.5 3.25')\nprint('done')", "does not match the pattern"),
    ):
        result = score_item(answer(wrong), label(tests, checker))
        assert result["verdict"] == "wrong" and says in result["details"]["reason"], (wrong, result)
