#!/bin/sh
# wordcount: an exec: task in POSIX sh + awk, nothing beyond Debian's base.
#
#   worker --task wordcount=exec:examples/shell/wordcount.sh
#   curl -d '{"task":"wordcount","args":{"text":"to be or not\nto be"}}' ...
#
# The job's args arrive on stdin as JSON text: {"text": "..."} (other members
# are ignored) or a bare JSON string. The result, on stdout, is
#   {"words":6,"lines":1,"bytes":18,"job":"<OFFLOAD_JOB_ID>"}
# counted as `wc` does in the C locale on the decoded text (bytes of its
# UTF-8; words split on ASCII white space; lines = newlines). Bad args: a
# message on stderr and exit status 2, which fails the run with that message.
#
# The JSON is walked by the awk program below, never evaluated; it trusts
# the worker to hand over well-formed JSON and checks only the shape it needs.
set -eu
export LC_ALL=C # awk's length() and substr() count bytes

exec awk '
function fail(msg) {
  print "wordcount: " msg > "/dev/stderr"
  failed = 1
  exit 2
}
function skip_ws() {
  while (pos <= len && index(" \t\n\r", substr(doc, pos, 1))) pos++
}
function hexval(h,    v, k) {
  v = 0
  for (k = 1; k <= 4; k++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, k, 1))) - 1
  return v
}
# One decoded character of the text: c is its first byte (or "x" for any
# non-space character), nbytes its UTF-8 length.
function count(c, nbytes) {
  bytes += nbytes
  if (index(SPACE, c)) {
    if (c == "\n") lines++
    in_word = 0
  } else if (!in_word) {
    words++
    in_word = 1
  }
}
# Walks the string whose opening quote is at pos, leaving pos after its
# closing quote. mode "count" counts it as the text; "key" returns it
# decoded (ASCII escapes only: enough to compare with "text"); "skip" does neither.
function string(mode,    c, cp, lo, key) {
  key = ""
  pos++
  while (pos <= len) {
    c = substr(doc, pos++, 1)
    if (c == "\"") return key
    cp = 0 # the code point, when an escape says it
    if (c == "\\") {
      c = substr(doc, pos++, 1)
      if (c == "u") {
        cp = hexval(substr(doc, pos, 4))
        pos += 4
        if (cp >= 55296 && cp <= 56319 && substr(doc, pos, 2) == "\\u") {
          lo = hexval(substr(doc, pos + 2, 4)) # a surrogate pair: one 4-byte character
          if (lo >= 56320 && lo <= 57343) { pos += 6; cp = 65536 }
        }
        c = (cp > 0 && cp < 128) ? sprintf("%c", cp) : "x"
      } else if (c == "n") c = "\n"
      else if (c == "t") c = "\t"
      else if (c == "r") c = "\r"
      else if (c == "f") c = FF
      else if (c == "b") c = BS
      # else \" \\ \/ stand for themselves
    }
    if (mode == "count")
      count(c, cp < 128 ? 1 : cp < 2048 ? 2 : cp < 65536 ? 3 : 4)
    else if (mode == "key")
      key = key c
  }
  fail("args: unterminated string")
}
# Skips one JSON value of any kind at pos.
function skip_value(    c, depth) {
  depth = 0
  while (pos <= len) {
    c = substr(doc, pos, 1)
    if (c == "\"") { string("skip"); if (depth == 0) return; continue }
    if (c == "{" || c == "[") depth++
    else if (c == "}" || c == "]") { if (depth == 0) return; depth-- }
    else if (c == "," && depth == 0) return
    pos++
    if (depth == 0 && (c == "}" || c == "]")) return
  }
}

BEGIN { SPACE = " \t\n\r" sprintf("%c%c", 11, 12); FF = sprintf("%c", 12); BS = sprintf("%c", 8) }
{ doc = doc $0 "\n" } # a JSON text holds no raw newline but between tokens
END {
  if (failed) exit 2
  len = length(doc); pos = 1; found = 0
  skip_ws()
  c = substr(doc, pos, 1)
  if (c == "\"") {
    string("count"); found = 1
  } else if (c == "{") {
    pos++
    for (;;) {
      skip_ws()
      c = substr(doc, pos, 1)
      if (c == "}") break
      if (c == ",") { pos++; continue }
      if (c != "\"") fail("args: not a JSON object")
      key = string("key")
      skip_ws()
      if (substr(doc, pos, 1) != ":") fail("args: not a JSON object")
      pos++
      skip_ws()
      if (key == "text") {
        if (substr(doc, pos, 1) != "\"") fail("args.text: must be a string")
        string("count"); found = 1
      } else
        skip_value()
    }
  }
  if (!found) fail("args: must be {\"text\": string} or a string")
  id = ENVIRON["OFFLOAD_JOB_ID"]
  gsub(/[^0-9A-Za-z_.:-]/, "", id) # ids are 32 hex digits: nothing else may break the JSON
  printf "{\"words\":%d,\"lines\":%d,\"bytes\":%d,\"job\":\"%s\"}\n", words, lines, bytes, id
}'
