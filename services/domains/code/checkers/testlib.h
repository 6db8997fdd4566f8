/*
 * A checker header with testlib's interface, written for this project (no code of testlib
 * itself is in here): checkers written against testlib's conventions compile against it
 * unchanged. Set REWARD_TESTLIB_H to the real testlib.h to compile checkers against that
 * instead.
 *
 * A checker is run as `checker INPUT OUTPUT ANSWER` (the test's input, the candidate's
 * output, the jury's answer) and reports by its exit code, as testlib does:
 * 0 ok, 1 wrong answer, 2 presentation error, 3 checker failure, 4 extra output,
 * 7 points (stderr "points <value> ..."), 8 unexpected end of file, 50 + p partially
 * correct (p percent). The message goes to stderr.
 */
#ifndef REWARD_TESTLIB_COMPATIBLE_H
#define REWARD_TESTLIB_COMPATIBLE_H

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <queue>
#include <regex>
#include <set>
#include <sstream>
#include <stack>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

enum TResult {
    _ok = 0,
    _wa = 1,
    _pe = 2,
    _fail = 3,
    _dirt = 4,
    _points = 5,
    _unexpected_eof = 8,
    _partially = 16
};

/* testlib's partially-correct result: p percent of the test's points. */
inline TResult _pc(int percent) { return TResult(_partially + percent); }

enum TMode { _input, _output, _answer };

#if defined(__GNUC__)
#define REWARD_TL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define REWARD_TL_NORETURN __attribute__((noreturn))
#else
#define REWARD_TL_PRINTF(f, a)
#define REWARD_TL_NORETURN
#endif

const double EPS = 1e-9;
const double MAX_DOUBLE_ERROR = 1e-6;

/* printf into a std::string; the checkers' `format(...)`. */
inline std::string __reward_vformat(const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n < 0) return std::string(fmt);
    std::string out(size_t(n) + 1, '\0');
    std::vsnprintf(&out[0], out.size(), fmt, ap);
    out.resize(size_t(n));
    return out;
}

inline std::string format(const char *fmt, ...) REWARD_TL_PRINTF(1, 2);
inline std::string format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = __reward_vformat(fmt, ap);
    va_end(ap);
    return s;
}
inline std::string format(const std::string &s) { return s; }

#define REWARD_TL_FORMAT(fmt, out)     \
    std::string out;                   \
    {                                  \
        va_list ap_;                   \
        va_start(ap_, fmt);            \
        out = __reward_vformat(fmt, ap_); \
        va_end(ap_);                   \
    }

template <typename T>
std::string vtos(const T &t) {
    std::ostringstream s;
    s << t;
    return s.str();
}
inline std::string vtos(const std::string &t) { return t; }
inline std::string vtos(double t) { return format("%.10g", t); }
template <typename T>
std::string toString(const T &t) { return vtos(t); }

inline std::string upperCase(std::string s) {
    for (char &c : s) c = char(std::toupper((unsigned char)c));
    return s;
}
inline std::string lowerCase(std::string s) {
    for (char &c : s) c = char(std::tolower((unsigned char)c));
    return s;
}
inline std::string trim(const std::string &s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace((unsigned char)s[b])) b++;
    while (e > b && std::isspace((unsigned char)s[e - 1])) e--;
    return s.substr(b, e - b);
}
/* Long strings shortened for messages. */
inline std::string compress(const std::string &s) {
    return s.size() <= 64 ? s : s.substr(0, 30) + "..." + s.substr(s.size() - 31);
}
inline std::string englishEnding(int x) {
    x %= 100;
    if (x / 10 == 1) return "th";
    if (x % 10 == 1) return "st";
    if (x % 10 == 2) return "nd";
    if (x % 10 == 3) return "rd";
    return "th";
}

/* The "absolute or relative error at most err" rule. */
inline bool doubleCompare(double expected, double result, double err) {
    if (std::isnan(expected) || std::isnan(result)) return std::isnan(expected) && std::isnan(result);
    if (std::isinf(expected) || std::isinf(result)) return expected == result;
    return std::fabs(result - expected) <= err * std::max(1.0, std::fabs(expected)) + 1e-15;
}
inline double doubleDelta(double expected, double result) {
    double absolute = std::fabs(result - expected);
    if (std::fabs(expected) > 1e-9) return std::min(absolute, std::fabs(absolute / expected));
    return absolute;
}

static std::string __reward_name;
inline void setName(const char *fmt, ...) REWARD_TL_PRINTF(1, 2);
inline void setName(const char *fmt, ...) {
    REWARD_TL_FORMAT(fmt, s);
    __reward_name = s;
}

class InStream;
REWARD_TL_NORETURN void quit(TResult result, const std::string &message);

class InStream {
  public:
    std::string name;
    TMode mode = _input;
    bool opened = false;

    void init(const std::string &path, TMode m) {
        name = path;
        mode = m;
        std::ifstream f(path, std::ios::binary);
        if (!f) quit(_fail, "cannot open " + path);
        data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        pos = 0;
        opened = true;
    }

    /* A reading error: the candidate's fault in its output (presentation error), the
     * jury's in the input or the answer (checker failure). */
    REWARD_TL_NORETURN void quit(TResult result, const std::string &message) {
        if (mode != _output && result != _ok && result != _fail) result = _fail;
        std::string where = mode == _output ? "" : (mode == _input ? " (input file)" : " (answer file)");
        ::quit(result, message + where);
    }
    REWARD_TL_NORETURN void quit(TResult result, const char *message) { quit(result, std::string(message)); }
    REWARD_TL_NORETURN void quitf(TResult result, const char *fmt, ...) REWARD_TL_PRINTF(3, 4) {
        REWARD_TL_FORMAT(fmt, s);
        quit(result, s);
    }
    void quitif(bool condition, TResult result, const char *fmt, ...) REWARD_TL_PRINTF(4, 5) {
        if (!condition) return;
        REWARD_TL_FORMAT(fmt, s);
        quit(result, s);
    }
    void ensuref(bool condition, const char *fmt, ...) REWARD_TL_PRINTF(3, 4) {
        if (condition) return;
        REWARD_TL_FORMAT(fmt, s);
        quit(_wa, s);
    }
    void ensure(bool condition) {
        if (!condition) quit(_wa, "a condition failed");
    }

    /* ---- characters ---- */
    bool eof() { return pos >= data.size(); }
    char curChar() { return eof() ? char(EOF) : data[pos]; }
    char nextChar() { return eof() ? char(EOF) : data[pos++]; }
    char readChar() {
        if (eof()) quit(_unexpected_eof, "unexpected end of file: a character expected");
        return data[pos++];
    }
    char readChar(char c) {
        char got = readChar();
        if (got != c) quit(_pe, format("expected '%c', but '%c' found", c, got));
        return got;
    }
    char readSpace() { return readChar(' '); }
    void skipChar() {
        if (!eof()) pos++;
    }
    void unreadChar(char) {
        if (pos > 0) pos--;
    }
    void skipBlanks() {
        while (!eof() && isBlank(data[pos])) pos++;
    }
    bool seekEof() {
        skipBlanks();
        return eof();
    }
    bool eoln() {
        if (eof()) return true;
        if (data[pos] == '\n') return true;
        return data[pos] == '\r' && pos + 1 < data.size() && data[pos + 1] == '\n';
    }
    bool seekEoln() {
        while (!eof() && (data[pos] == ' ' || data[pos] == '\t')) pos++;
        return eoln();
    }
    void readEoln() {
        if (!eof() && data[pos] == '\r') pos++;
        if (eof() || data[pos] != '\n') quit(_pe, "expected end of line");
        pos++;
    }
    void nextLine() {
        while (!eof() && data[pos] != '\n') pos++;
        if (!eof()) pos++;
    }
    void readEof() {
        if (!eof()) quit(_pe, "expected end of file");
    }

    /* ---- tokens and lines ---- */
    std::string readToken() {
        skipBlanks();
        if (eof()) quit(_unexpected_eof, "unexpected end of file: a token expected");
        size_t start = pos;
        while (!eof() && !isBlank(data[pos])) pos++;
        return data.substr(start, pos - start);
    }
    std::string readWord() { return readToken(); }
    std::string readToken(const std::string &pattern, const std::string &variable = "") {
        std::string token = readToken();
        checkPattern(token, pattern, variable);
        return token;
    }
    std::string readWord(const std::string &pattern, const std::string &variable = "") {
        return readToken(pattern, variable);
    }
    std::vector<std::string> readTokens(int n, const std::string &pattern = "", const std::string &variable = "") {
        std::vector<std::string> out;
        for (int i = 0; i < n; i++) out.push_back(pattern.empty() ? readToken() : readToken(pattern, variable));
        return out;
    }
    std::vector<std::string> readWords(int n, const std::string &pattern = "", const std::string &variable = "") {
        return readTokens(n, pattern, variable);
    }
    std::string readLine() {
        if (eof()) quit(_unexpected_eof, "unexpected end of file: a line expected");
        size_t start = pos;
        while (!eof() && data[pos] != '\n') pos++;
        size_t end = pos;
        if (!eof()) pos++;
        if (end > start && data[end - 1] == '\r') end--;
        return data.substr(start, end - start);
    }
    std::string readString() { return readLine(); }
    void readTokenTo(std::string &out) { out = readToken(); }
    void readWordTo(std::string &out) { out = readToken(); }
    void readLineTo(std::string &out) { out = readLine(); }
    void readStringTo(std::string &out) { out = readLine(); }
    std::vector<std::string> readLines(int n) {
        std::vector<std::string> out;
        for (int i = 0; i < n; i++) out.push_back(readLine());
        return out;
    }
    std::string readLine(const std::string &pattern, const std::string &variable = "") {
        std::string line = readLine();
        checkPattern(line, pattern, variable);
        return line;
    }
    std::string readString(const std::string &pattern, const std::string &variable = "") {
        return readLine(pattern, variable);
    }

    /* ---- numbers ---- */
    long long readLong() { return parseInteger(readToken(), LLONG_MIN, LLONG_MAX, ""); }
    long long readLong(long long lo, long long hi, const std::string &variable = "") {
        return inRange(parseInteger(readToken(), LLONG_MIN, LLONG_MAX, variable), lo, hi, variable);
    }
    int readInt() { return int(parseInteger(readToken(), INT_MIN, INT_MAX, "")); }
    int readInt(int lo, int hi, const std::string &variable = "") {
        return int(inRange(parseInteger(readToken(), INT_MIN, INT_MAX, variable), lo, hi, variable));
    }
    int readInteger() { return readInt(); }
    int readInteger(int lo, int hi, const std::string &variable = "") { return readInt(lo, hi, variable); }
    unsigned long long readUnsignedLong() {
        std::string t = readToken();
        if (t.empty() || t[0] == '-') quit(_pe, "expected an unsigned integer, but \"" + compress(t) + "\" found");
        errno = 0;
        char *end = nullptr;
        unsigned long long v = std::strtoull(t.c_str(), &end, 10);
        if (errno || *end || !std::isdigit((unsigned char)t[0]))
            quit(_pe, "expected an unsigned integer, but \"" + compress(t) + "\" found");
        return v;
    }
    double readDouble() { return parseReal(readToken(), ""); }
    double readDouble(double lo, double hi, const std::string &variable = "") {
        double v = parseReal(readToken(), variable);
        if (v < lo || v > hi) quit(_wa, label(variable) + format("%.10g violates the range [%.10g, %.10g]", v, lo, hi));
        return v;
    }
    double readReal() { return readDouble(); }
    double readReal(double lo, double hi, const std::string &variable = "") { return readDouble(lo, hi, variable); }
    double readStrictDouble(double lo, double hi, int minDigits, int maxDigits, const std::string &variable = "") {
        std::string t = readToken();
        size_t dot = t.find('.');
        int digits = dot == std::string::npos ? 0 : int(t.size() - dot - 1);
        if (digits < minDigits || digits > maxDigits)
            quit(_pe, label(variable) + "\"" + compress(t) + "\" has the wrong number of digits after the point");
        double v = parseReal(t, variable);
        if (v < lo || v > hi) quit(_wa, label(variable) + format("%.10g violates the range [%.10g, %.10g]", v, lo, hi));
        return v;
    }
    double readStrictReal(double lo, double hi, int minDigits, int maxDigits, const std::string &variable = "") {
        return readStrictDouble(lo, hi, minDigits, maxDigits, variable);
    }

    std::vector<int> readInts(int n, int lo = INT_MIN, int hi = INT_MAX, const std::string &variable = "") {
        std::vector<int> out;
        for (int i = 0; i < n; i++) out.push_back(readInt(lo, hi, variable));
        return out;
    }
    std::vector<long long> readLongs(int n, long long lo = LLONG_MIN, long long hi = LLONG_MAX,
                                     const std::string &variable = "") {
        std::vector<long long> out;
        for (int i = 0; i < n; i++) out.push_back(readLong(lo, hi, variable));
        return out;
    }
    std::vector<double> readDoubles(int n, double lo = -HUGE_VAL, double hi = HUGE_VAL, const std::string &variable = "") {
        std::vector<double> out;
        for (int i = 0; i < n; i++) out.push_back(readDouble(lo, hi, variable));
        return out;
    }
    std::vector<double> readReals(int n, double lo = -HUGE_VAL, double hi = HUGE_VAL, const std::string &variable = "") {
        return readDoubles(n, lo, hi, variable);
    }

  private:
    std::string data;
    size_t pos = 0;

    static bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    static std::string label(const std::string &variable) { return variable.empty() ? "" : variable + ": "; }

    long long parseInteger(const std::string &t, long long lo, long long hi, const std::string &variable) {
        size_t i = (t.size() > 1 && t[0] == '-') ? 1 : 0;
        bool digits = i < t.size();
        for (size_t j = i; j < t.size(); j++) digits = digits && std::isdigit((unsigned char)t[j]);
        if (!digits) quit(_pe, label(variable) + "expected an integer, but \"" + compress(t) + "\" found");
        errno = 0;
        long long v = std::strtoll(t.c_str(), nullptr, 10);
        if (errno == ERANGE || v < lo || v > hi)
            quit(_pe, label(variable) + "expected an integer, but \"" + compress(t) + "\" found (out of range)");
        return v;
    }
    long long inRange(long long v, long long lo, long long hi, const std::string &variable) {
        if (v < lo || v > hi) quit(_wa, label(variable) + format("%lld violates the range [%lld, %lld]", v, lo, hi));
        return v;
    }
    double parseReal(const std::string &t, const std::string &variable) {
        bool plain = !t.empty();
        for (char c : t) plain = plain && (std::isdigit((unsigned char)c) || std::strchr(".eE+-", c) != nullptr);
        char *end = nullptr;
        double v = plain ? std::strtod(t.c_str(), &end) : 0.0;
        if (!plain || *end || !std::isfinite(v))
            quit(_pe, label(variable) + "expected a real number, but \"" + compress(t) + "\" found");
        return v;
    }
    void checkPattern(const std::string &s, const std::string &pattern, const std::string &variable) {
        if (pattern.empty()) return;
        bool ok;
        try {
            ok = std::regex_match(s, std::regex(pattern));
        } catch (const std::regex_error &) {
            ::quit(_fail, "the checker's pattern \"" + pattern + "\" cannot be read");
        }
        if (!ok) quit(_wa, label(variable) + "\"" + compress(s) + "\" does not match the pattern \"" + pattern + "\"");
    }
};

static InStream inf, ouf, ans;
static double __reward_points = 0.0;

/* Ends the checker with a verdict: the message on stderr, the verdict in the exit code. */
REWARD_TL_NORETURN inline void quit(TResult result, const std::string &message) {
    // Accepting output that has more after what the checker read would let trailing
    // garbage pass: testlib reports it as extra information, and so do we.
    if (result == _ok && ouf.opened && !ouf.seekEof()) {
        result = _dirt;
    }
    const char *name = "FAIL";
    int code = 3;
    std::string text = message;
    switch (int(result)) {
        case _ok: name = "ok"; code = 0; break;
        case _wa: name = "wrong answer"; code = 1; break;
        case _pe: name = "wrong output format"; code = 2; break;
        case _fail: name = "FAIL"; code = 3; break;
        case _dirt: name = "wrong output format"; code = 4; text = "extra information in the output file"; break;
        case _points: name = "points"; code = 7; text = format("%.10g", __reward_points) + (message.empty() ? "" : " " + message); break;
        case _unexpected_eof: name = "wrong output format"; code = 8; break;
        default:
            if (int(result) >= _partially && int(result) <= _partially + 100) {
                name = "partially correct";
                code = 50 + int(result) - _partially;
            }
    }
    std::fprintf(stderr, "%s %s\n", name, text.c_str());
    std::fflush(stderr);
    std::exit(code);
}
REWARD_TL_NORETURN inline void quit(TResult result, const char *message) { quit(result, std::string(message)); }

REWARD_TL_NORETURN inline void quitf(TResult result, const char *fmt, ...) REWARD_TL_PRINTF(2, 3);
REWARD_TL_NORETURN inline void quitf(TResult result, const char *fmt, ...) {
    REWARD_TL_FORMAT(fmt, s);
    quit(result, s);
}
inline void quitif(bool condition, TResult result, const char *fmt, ...) REWARD_TL_PRINTF(3, 4);
inline void quitif(bool condition, TResult result, const char *fmt, ...) {
    if (!condition) return;
    REWARD_TL_FORMAT(fmt, s);
    quit(result, s);
}

/* Partial credit: `points` is the test's score, a fraction in [0, 1] here. */
template <typename F>
REWARD_TL_NORETURN void quitp(F points, const std::string &message = "") {
    __reward_points = double(points);
    quit(_points, message);
}
template <typename F>
REWARD_TL_NORETURN void quitp(F points, const char *fmt, ...) {
    REWARD_TL_FORMAT(fmt, s);
    __reward_points = double(points);
    quit(_points, s);
}
template <typename F>
REWARD_TL_NORETURN void quitpi(F points, const std::string &message = "") {
    quitp(points, message);
}

inline void ensuref(bool condition, const char *fmt, ...) REWARD_TL_PRINTF(2, 3);
inline void ensuref(bool condition, const char *fmt, ...) {
    if (condition) return;
    REWARD_TL_FORMAT(fmt, s);
    quit(_fail, s);
}
#define ensure(cond) ensuref((cond), "condition failed: %s", #cond)

/* `prepend` is a printf format for what is compared ("the %d-th number", i). */
template <typename T>
REWARD_TL_NORETURN void expectedButFound(TResult result, T expected, T found, const char *prepend = "", ...) {
    if (!prepend) prepend = "";
    REWARD_TL_FORMAT(prepend, prefix);
    quit(result, (prefix.empty() ? "" : prefix + ": ") + "expected '" + vtos(expected) + "', but '" + vtos(found) + "' found");
}
REWARD_TL_NORETURN inline void expectedButFound(TResult result, double expected, double found, const char *prepend = "", ...) {
    if (!prepend) prepend = "";
    REWARD_TL_FORMAT(prepend, prefix);
    quit(result, (prefix.empty() ? "" : prefix + ": ") + format("expected %.10g, but %.10g found", expected, found));
}

/* The checker's command line: INPUT OUTPUT ANSWER [RESULT]. */
inline void registerTestlibCmd(int argc, char *argv[]) {
    if (argc < 4) quit(_fail, "usage: checker INPUT OUTPUT ANSWER");
    inf.init(argv[1], _input);
    ouf.init(argv[2], _output);
    ans.init(argv[3], _answer);
}
inline void registerTestlib(int argc, ...) {
    if (argc < 3) quit(_fail, "registerTestlib: INPUT OUTPUT ANSWER expected");
    va_list ap;
    va_start(ap, argc);
    const char *in = va_arg(ap, const char *);
    const char *out = va_arg(ap, const char *);
    const char *answer = va_arg(ap, const char *);
    va_end(ap);
    inf.init(in, _input);
    ouf.init(out, _output);
    ans.init(answer, _answer);
}

#endif
