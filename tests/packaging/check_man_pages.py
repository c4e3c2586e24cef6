#!/usr/bin/env python3
"""Checks docs/man against what it documents, so the pages cannot drift.

  check_man_pages.py config-keys CONFIG_README LINTEL_YAML_5
      The keys of config/README.md's "Keys" table (every `backticked` name in a row's first cell)
      and the keys of lintel.yaml(5)'s KEYS section (every bold name on the line after a .TP) must
      be the same set: a key added to the loader's table needs its entry in the page, and the page
      documents no key the table lacks.
  check_man_pages.py subcommands LINTELCTL LINTELCTL_1
      Every command `LINTELCTL --help` lists, and every subcommand of those (`LINTELCTL CMD
      --help`), has a .SS heading in lintelctl(1) that starts with its words ("lock pair").
  check_man_pages.py render GROFF PAGE...
      `groff -man -ww -z PAGE` prints nothing (no warning of any kind) for each page.

Prints what is missing and exits 1 on a mismatch.
"""
import re
import subprocess
import sys


def readme_keys(path):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^## Keys\n(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        sys.exit(f"{path}: no '## Keys' section")
    keys = set()
    for line in m.group(1).splitlines():
        if not line.startswith("| `"):
            continue  # the header, the separator, prose
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        keys.update(re.findall(r"`([^`]+)`", first_cell))
    return keys


def roff_text(s):
    """Roff escapes that occur in key names, undone: \\- and \\e."""
    return s.replace(r"\-", "-").replace(r"\e", "\\").replace(r"\&", "")


def man_keys(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    keys, in_keys = set(), False
    for i, line in enumerate(lines):
        if line.startswith(".SH "):
            in_keys = line.split(None, 1)[1].strip('"') == "KEYS"
            continue
        if in_keys and line == ".TP" and i + 1 < len(lines):
            tag = lines[i + 1]
            if tag.startswith(".B "):
                keys.add(roff_text(tag[3:].strip().strip('"')))
            else:
                keys.update(roff_text(k) for k in re.findall(r"\\fB(.*?)\\f[RP]", tag))
    return keys


def config_keys(readme, page):
    want, have = readme_keys(readme), man_keys(page)
    if len(want) < 50:
        sys.exit(f"{readme}: only {len(want)} keys found: is the table still there?")
    missing, extra = sorted(want - have), sorted(have - want)
    for k in missing:
        print(f"{page}: key {k} of {readme} is not documented (add '.TP' then '\\fB{k}\\fR')")
    for k in extra:
        print(f"{page}: key {k} is not in {readme}'s key table")
    print(f"{len(want)} keys in {readme}, {len(have)} in {page}")
    return 1 if missing or extra else 0


def help_subcommands(prog, words):
    out = subprocess.run([prog, *words, "--help"], capture_output=True, text=True, check=True).stdout
    subs, section = [], None
    for line in out.splitlines():
        if re.fullmatch(r"[A-Za-z]+:", line):
            section = line[:-1]
        elif section == "Subcommands" and re.match(r"  \S", line):
            subs.append(line.split()[0])
    return subs


def subcommands(prog, page):
    headings = []
    for line in open(page, encoding="utf-8"):
        if line.startswith(".SS "):
            text = re.sub(r"\\f[BIRP]", "", line[4:].strip().strip('"'))
            headings.append(roff_text(text).split())
    commands = []
    for top in help_subcommands(prog, []):
        nested = help_subcommands(prog, [top])
        commands += [[top, sub] for sub in nested] if nested else [[top]]
    if len(commands) < 5:
        sys.exit(f"{prog} --help lists only {commands}: is the help format still CLI11's?")
    missing = [c for c in commands if not any(h[: len(c)] == c for h in headings)]
    for c in missing:
        print(f"{page}: `lintelctl {' '.join(c)}` has no .SS heading")
    print(f"{len(commands)} commands in {prog} --help, {len(commands) - len(missing)} documented")
    return 1 if missing else 0


def render(groff, pages):
    rc = 0
    for page in pages:
        r = subprocess.run([groff, "-man", "-ww", "-z", page], capture_output=True, text=True)
        if r.returncode != 0 or r.stderr:
            print(f"{page}: groff -man -ww: exit {r.returncode}\n{r.stderr}", end="")
            rc = 1
        else:
            print(f"{page}: renders without warnings")
    return rc


def main(argv):
    if len(argv) >= 4 and argv[1] == "config-keys":
        return config_keys(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "subcommands":
        return subcommands(argv[2], argv[3])
    if len(argv) >= 4 and argv[1] == "render":
        return render(argv[2], argv[3:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
