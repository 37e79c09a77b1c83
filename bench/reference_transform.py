#!/usr/bin/env python3
"""Reference implementation of the FlexyCall transform (mission 26), with
Python's csv module and nothing outside the standard library.

It does what examples/profiles/flexycall.yaml asks of Plateau, written
independently so that the two can be compared byte for byte
(internal/ingest/reference_test.go), and it is the "plain Python csv-module
implementation" that bench/legacy.sh times Plateau against.

    reference_transform.py --at 2026-11-23T08:00:00+01:00 --out DIR FILE

It writes mission.csv, CRM phonak.csv, Automate.csv and Call Centers.csv
(Windows-1252, csv.writer defaults: QUOTE_MINIMAL, CRLF) into DIR and prints
a JSON summary (counts and the quarantined lines with their reason codes).

Phone numbers: only the shapes French numbers arrive in are understood
(0XXXXXXXXX, XXXXXXXXX, 33XXXXXXXXX, 330XXXXXXXXX, 0033XXXXXXXXX,
00330XXXXXXXXX, +33XXXXXXXXX, +330XXXXXXXXX with spaces, dots or dashes);
anything else counts as invalid. Plateau asks libphonenumber about other
shapes, so test files keep to these.
"""

import argparse
import codecs
import csv
import datetime
import json
import os
import re
import sys
import zoneinfo

COLUMNS = [
    "type", "name", "surname", "email_address", "phone_number", "statut_de_la_piste",
    "proprietaire_de_la_piste", "mc_form_id", "lead_creation_date", "hearing_center",
    "hcp_erp_number", "hcp_postal_code", "hcp_phone_number", "hcp_address", "hcp_city",
    "hcp_email_address",
]
CALL_CENTERS_HEADER = [
    "numero", "groupe", "datetime", "id_contact", "surname", "name", "email_address",
    "phone_number", "statut_de_la_piste", "proprietaire_de_la_piste", "mc_form_id",
    "lead_creation_date", "hcp_erp_number", "hearing_center", "hcp_postal_code",
    "hcp_phone_number", "hcp_address", "hcp_city", "hcp_email_address", "type",
]
TRIM = " \t\n\r\v\f\u00a0\u202f"
DETECT_WINDOW = 64 * 1024

# The French numbering plan (ARCEP), by leading digits of the 9-digit
# national significant number, in the order number types are tried.
PLAN = [(name, re.compile(pattern)) for name, pattern in [
    ("premium_rate", r"836(?:0[0-36-9]|[1-9])|81[2-9]|82[2-47-9]|83[0-57-9]|8[569]|88[0-35-9]"),
    ("toll_free", r"80[0-5]"),
    ("shared_cost", r"81[01]|82[0156]|84[024]|884"),
    ("voip", r"9"),
    ("uan", r"80[6-9]"),
    ("fixed", r"26[013-9]|59[1-35-9]|[13]|2[0-57-9]|4[1-9]|5[0-8]"),
    ("mobile", r"6[0-24-8]|63[0-8]|69[589]|7[3-9]"),
]]
DATE_RE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
# Serial n is n days after 31/12/1899, as the specification counts (44333 is 18/05/2021).
EXCEL_EPOCH = datetime.date(1899, 12, 31)


def detect_encoding(path):
    """UTF-8 BOM: utf-8-sig. Otherwise decide at the first non-ASCII byte,
    on the next 64 KiB: count the valid UTF-8 multi-byte sequences and the
    bytes that cannot be UTF-8 (a sequence cut by the end of the window
    excepted); UTF-8 if the valid ones are more, else Windows-1252."""
    with open(path, "rb") as f:
        head = f.read(3)
        if head.startswith(b"\xef\xbb\xbf"):
            return "utf-8-sig"
        f.seek(0)
        offset = 0
        pattern = re.compile(rb"[\x80-\xff]")
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return "ascii"
            m = pattern.search(chunk)
            if m:
                break
            offset += len(chunk)
        f.seek(offset + m.start())
        window = f.read(DETECT_WINDOW)
        cut = len(window) == DETECT_WINDOW and f.read(1) != b""
    valid = invalid = 0
    i = 0
    while i < len(window):
        b = window[i]
        if b < 0x80:
            i += 1
            continue
        n = 2 if 0xC2 <= b <= 0xDF else 3 if 0xE0 <= b <= 0xEF else 4 if 0xF0 <= b <= 0xF4 else 0
        seq = window[i:i + n]
        if n and len(seq) == n:
            try:
                seq.decode("utf-8")
                valid += 1
                i += n
                continue
            except UnicodeDecodeError:
                pass
        elif n and cut:
            try:
                codecs.getincrementaldecoder("utf-8")().decode(seq, final=False)
                break  # a sequence cut by the end of the window
            except UnicodeDecodeError:
                pass
        invalid += 1
        i += 1
    return "utf-8" if valid > invalid else "cp1252"


SURROGATE = re.compile("[\udc80-\udcff]")
DOUBLE_ENCODED = re.compile(rb"[\xc2\xc3][\x80-\xbf]")


def encoding_problem(row, enc):
    """Whether a row holds bytes that are not text in the file's encoding,
    or UTF-8 inside a Windows-1252 file."""
    for f in row:
        if f.isascii():
            continue
        if SURROGATE.search(f):
            return True
        if enc == "cp1252" and DOUBLE_ENCODED.search(f.encode("cp1252", "surrogateescape")):
            return True
    return False


def french_nsn(s):
    """The national significant number of a French number in a known shape,
    and whether its leading 0 was missing; None for any other shape."""
    if not s or len(s) > 32:
        return None
    digits = []
    plus = False
    for i, c in enumerate(s):
        if "0" <= c <= "9":
            digits.append(c)
        elif c == "+" and i == 0:
            plus = True
        elif c in " .-":
            if not digits:
                return None
        else:
            return None
    if not ("0" <= s[-1] <= "9") or len(digits) > 16:
        return None
    d = "".join(digits)
    n = len(d)
    if plus:
        if n == 11 and d[:2] == "33" and d[2] != "0":
            return d[2:]
        if n == 12 and d[:3] == "330" and d[3] != "0":
            return d[3:]
        return None
    if n == 9 and d[0] != "0":
        return d
    if n == 10 and d[0] == "0" and d[1] != "0":
        return d[1:]
    if n == 11 and d[:2] == "33" and d[2] != "0":
        return d[2:]
    if n == 12 and d[:3] == "330" and d[3] != "0":
        return d[3:]
    if n == 13 and d[:4] == "0033" and d[4] != "0":
        return d[4:]
    if n == 14 and d[:5] == "00330" and d[5] != "0":
        return d[5:]
    return None


def valid_french(s):
    """The NSN of a valid French number, or None."""
    nsn = french_nsn(s)
    if nsn is None:
        return None
    for _, pattern in PLAN:
        if pattern.match(nsn):
            return nsn
    return None


def parse_date(s):
    """A date as dd/mm/yyyy or a 5-digit Excel serial number; None if not."""
    if len(s) == 5 and all("0" <= c <= "9" for c in s):
        n = int(s)
        if n >= 1:
            return EXCEL_EPOCH + datetime.timedelta(days=n)
        return None
    m = DATE_RE.fullmatch(s)
    if not m:
        return None
    try:
        return datetime.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None


def postal(s):
    if len(s) == 4 and all("0" <= c <= "9" for c in s):
        return "0" + s
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--at", required=True, help="receipt time, ISO 8601 with offset")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--mission-number", type=int, default=26)
    ap.add_argument("--mission-name", default="Mission Sortant J+3")
    ap.add_argument("file")
    args = ap.parse_args()

    received = datetime.datetime.fromisoformat(args.at).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    date_jour = received.strftime("%Y-%m-%d") + " 12:00:00"
    time_code = received.strftime("%y%m%d")
    mission = args.mission_name
    suffix = "_" + str(args.mission_number)

    os.makedirs(args.out, exist_ok=True)
    enc = detect_encoding(args.file)
    opened = [open(os.path.join(args.out, name), "w", encoding="cp1252", newline="")
              for name in ("mission.csv", "CRM phonak.csv", "Automate.csv", "Call Centers.csv")]
    w_mission = csv.writer(opened[0], delimiter=";")
    w_crm = csv.writer(opened[1], delimiter=",")
    w_auto = csv.writer(opened[2], delimiter=";")
    w_cc = csv.writer(opened[3], delimiter=";")
    w_cc.writerow(CALL_CENTERS_HEADER)

    received_count = loaded = manual = duplicates = 0
    quarantine = []
    seen = {}
    n = 0
    header = None
    with open(args.file, encoding=enc, errors="surrogateescape", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        prev_end = 0
        for row in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if not row or (len(row) == 1 and row[0].strip(" \t") == ""):
                continue
            if header is None:
                header = [c.strip(TRIM).lower() for c in row]
                if header != COLUMNS:
                    print("header does not match", file=sys.stderr)
                    return 1
                continue
            n += 1
            received_count += 1
            if encoding_problem(row, enc):
                quarantine.append({"line": start, "code": "encoding"})
                continue
            trimmed = [c.strip(TRIM) for c in row]
            if all(c == "" for c in trimmed):
                quarantine.append({"line": start, "code": "empty_record"})
                continue
            if len(row) != len(COLUMNS):
                quarantine.append({"line": start, "code": "field_count"})
                continue
            (typ, name, surname, email, phone, statut, owner, form, lead_date, center,
             erp, postcode, hcp_phone, address, city, hcp_email) = trimmed
            code = None
            date = None
            if lead_date != "":
                date = parse_date(lead_date)
                if date is None:
                    code = "date"
            hcp_nsn = None
            if code is None:
                if hcp_phone == "":
                    code = "required"
                else:
                    hcp_nsn = valid_french(hcp_phone)
                    if hcp_nsn is None:
                        code = "phone"
            if code is None:
                try:
                    for c in trimmed:
                        c.encode("cp1252")
                except UnicodeEncodeError:
                    code = "unencodable"
            if code is None:
                key = tuple(trimmed)
                if key in seen:
                    duplicates += 1
                    code = "duplicate"
                else:
                    seen[key] = start
            if code is not None:
                quarantine.append({"line": start, "code": code})
                continue

            loaded += 1
            lead_nsn = valid_french(phone) if phone else None
            lead_out = "33" + lead_nsn if lead_nsn else phone
            contact_id = time_code + "_" + str(n) + suffix
            row_mission = ["0", mission, date_jour, contact_id, surname, name, email, lead_out,
                           statut, owner, form, date.strftime("%d/%m/%Y") if date else "",
                           erp, center, postal(postcode), "33" + hcp_nsn, address, city,
                           hcp_email, typ]
            w_mission.writerow(row_mission)
            w_crm.writerow(["0", date_jour, surname, name, erp, postal(postcode), city, contact_id,
                            "", hcp_nsn, "", "", "", typ, "0000-00-00", mission, "", "0",
                            "0000-00-00"])
            if hcp_nsn.startswith("8"):  # national form 08...: dialled by hand
                manual += 1
                w_cc.writerow(row_mission)
            else:
                w_auto.writerow(["0" + hcp_nsn, surname, contact_id, "", "", "", "", "", "2", "", ""])
    for f in opened:
        f.close()
    json.dump({"encoding": enc, "received": received_count, "loaded": loaded,
               "quarantined": len(quarantine), "manual": manual, "duplicates": duplicates,
               "quarantine": quarantine}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
