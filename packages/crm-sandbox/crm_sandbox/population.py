"""The seeded world both sandbox CRMs are drawn from: who exists on which side, and every person's and company's traits.

Every trait is a pure function of (seed, stream, index), so the Salesforce and HubSpot halves can be generated in
separate processes, in any batch size, and still agree on the people and companies they share.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from crm_sandbox import words as w
from crm_sandbox.draws import U64, Draw, Permutation, stream_key
from crm_sandbox.words import DOMAIN_SHAPES, INDUSTRY_PAIRS, MALFORMED_EMAILS

# Dates are placed relative to a fixed day, not today, so a seed gives the same data whenever it runs.
ANCHOR = dt.date(2026, 1, 1)


def fold(text: str) -> str:
    """Lower-case ASCII letters only, as names go into email addresses (Müller -> muller, O'Brien -> obrien)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_text.lower())


# ---------------------------------------------------------------------------------------------------------
# Layout: how many of everything, and which index is on which side
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """Counts and index ranges of one seeded world (N person records on each side).

    People universe: [0, shared) on both sides, [shared, hs_people) HubSpot only, then Salesforce only.
    Companies: [0, shared_companies) on both, [.., companies) HubSpot only, then Salesforce only.
    """

    size: int
    seed: int
    overlap: float
    company_overlap: float
    duplicate_rate: float
    bad_value_rate: float

    @cached_property
    def duplicates(self) -> int:
        return round(self.duplicate_rate * self.size)

    @cached_property
    def hs_people(self) -> int:
        return self.size - self.duplicates

    @cached_property
    def sf_leads(self) -> int:
        return round(0.4 * self.size)

    @cached_property
    def sf_contacts(self) -> int:
        return self.size - self.sf_leads

    @cached_property
    def converted(self) -> int:
        return round(0.15 * self.sf_leads)

    @cached_property
    def sf_lead_dups(self) -> int:
        return round(self.duplicates * self.sf_leads / self.size)

    @cached_property
    def sf_contact_dups(self) -> int:
        return self.duplicates - self.sf_lead_dups

    @cached_property
    def sf_contact_people(self) -> int:
        return self.sf_contacts - self.sf_contact_dups

    @cached_property
    def sf_open_leads(self) -> int:
        """Unconverted leads that are not duplicates."""
        return self.sf_leads - self.sf_lead_dups - self.converted

    @cached_property
    def sf_people(self) -> int:
        return self.sf_contact_people + self.sf_open_leads

    @cached_property
    def shared(self) -> int:
        return round(self.overlap * min(self.hs_people, self.sf_people))

    @cached_property
    def universe(self) -> int:
        return self.hs_people + self.sf_people - self.shared

    @cached_property
    def companies(self) -> int:
        return max(4, round(self.size / 5))

    @cached_property
    def shared_companies(self) -> int:
        return round(self.company_overlap * self.companies)

    @cached_property
    def opportunities(self) -> int:
        return round(self.size / 4)

    @cached_property
    def cases(self) -> int:
        return round(self.size / 10)

    @cached_property
    def tasks(self) -> int:
        return round(self.size / 2)

    @cached_property
    def notes(self) -> int:
        return round(self.size / 4)

    @cached_property
    def calls(self) -> int:  # logged calls, emails and meetings, on each side
        return round(self.size / 5)

    @cached_property
    def emails(self) -> int:
        return round(self.size / 8)

    @cached_property
    def meetings(self) -> int:
        return round(self.size / 8)

    @cached_property
    def owners(self) -> int:
        """Sales and marketing users: a team that grows with the database, within what one company staffs."""
        return min(300, 8 + self.size // 3000)

    @cached_property
    def shared_owners(self) -> int:
        return max(1, round(0.8 * self.owners))

    @cached_property
    def sf_only_owners(self) -> int:
        return (self.owners - self.shared_owners + 1) // 2

    @cached_property
    def hs_only_owners(self) -> int:
        return self.owners - self.shared_owners - self.sf_only_owners

    # ---- people -------------------------------------------------------------------------------------------
    @cached_property
    def _hs_order(self) -> Permutation:
        return Permutation(self.hs_people, stream_key(self.seed, "hs-order"))

    @cached_property
    def _sf_order(self) -> Permutation:
        return Permutation(self.sf_people, stream_key(self.seed, "sf-order"))

    def hs_person(self, r: np.ndarray) -> np.ndarray:
        """Person of HubSpot contact record r < hs_people; shared and one-sided people interleave."""
        return self._hs_order(r)

    def sf_person(self, slot: np.ndarray) -> np.ndarray:
        """Person of Salesforce person slot < sf_people (contacts first, then open leads)."""
        u = self._sf_order(slot)
        return np.where(u < self.shared, u, self.hs_people + (u - self.shared))

    def hs_company_of(self, k: np.ndarray) -> np.ndarray:
        """HubSpot company record of universe company k, or -1."""
        return np.where((k >= 0) & (k < self.companies), k, -1)

    def sf_account_of(self, k: np.ndarray) -> np.ndarray:
        """Salesforce account record of universe company k, or -1."""
        c, s = self.companies, self.shared_companies
        out = np.where((k >= 0) & (k < s), k, -1)
        return np.where((k >= c) & (k < 2 * c - s), k - c + s, out)

    def sf_account_company(self, a: np.ndarray) -> np.ndarray:
        """Universe company of Salesforce account record a."""
        s = self.shared_companies
        return np.where(a < s, a, self.companies + (a - s))


# ---------------------------------------------------------------------------------------------------------
# Traits
# ---------------------------------------------------------------------------------------------------------

_FIRST_FOLD = [fold(x) for x in w.FIRST_NAMES]
_LAST_FOLD = [fold(x) for x in w.LAST_NAMES]
_A_FOLD = [fold(x) for x in w.COMPANY_A]
_B_FOLD = [fold(x) for x in w.COMPANY_B]
_EMPLOYEE_BANDS = ((1, 10), (11, 50), (51, 200), (201, 1000), (1001, 5000), (5001, 20000))
_EMPLOYEE_WEIGHTS = (20, 30, 25, 15, 7, 3)
_TITLE_STYLE = (8, 92)  # executive titles, then "<seniority><function> <role>"


def days_from_anchor(offsets: np.ndarray) -> list[str]:
    """ISO dates ANCHOR + offsets (days)."""
    return (np.datetime64(ANCHOR) + offsets.astype("timedelta64[D]")).astype(str).tolist()


def email_variant(email: str, code: int) -> str:
    """Real-world noise on an address that still normalises to it: 0 as is, 1 Title.Case, 2 UPPER, 3 padded."""
    if code == 1:
        return email.title()
    if code == 2:
        return email.upper()
    if code == 3:
        return f" {email} " if len(email) % 2 else f"{email} "
    return email


def malformed(email: str, code: int) -> str:
    """One of MALFORMED_EMAILS for a well-formed address."""
    local, _, domain = email.partition("@")
    host, _, tld = domain.rpartition(".")
    return MALFORMED_EMAILS[code % len(MALFORMED_EMAILS)].format(local=local, domain=domain, host=host, tld=tld)


class World:
    """People, companies and owners of a Layout, generated by index in vectorised batches."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.draw = Draw(layout.seed)
        nf, nl = len(w.FIRST_NAMES), len(w.LAST_NAMES)
        repeats = max(1, math.ceil(layout.universe / (nf * nl)))
        # A bijection from person to (first, last, number) makes every email local part unique by construction.
        self._names = Permutation(nf * nl * repeats, stream_key(layout.seed, "names"))
        self._domain_space = len(w.COMPANY_A) * len(w.COMPANY_B) * len(DOMAIN_SHAPES)
        self._domains = Permutation(self._domain_space, stream_key(layout.seed, "domains"))

    # ---- people -------------------------------------------------------------------------------------------
    def employer(self, p: np.ndarray) -> np.ndarray:
        """Universe company a person works for (-1: none given); shared people work for shared companies."""
        lay, d = self.layout, self.draw
        c, s = lay.companies, lay.shared_companies
        k_shared = d.below("employer", p, s if s else c)
        k_hs = d.below("employer", p, c)
        j = d.below("employer", p, c)
        k_sf = np.where(j < s, j, c + (j - s))
        k = np.select([p < lay.shared, p < lay.hs_people], [k_shared, k_hs], k_sf)
        return np.where(d.unit("no-employer", p) < 0.05, -1, k)

    def people(self, p: np.ndarray) -> dict[str, list]:
        """Traits of people p: names, work or personal email, employer, title, place, phone."""
        d = self.draw
        nf, nl = len(w.FIRST_NAMES), len(w.LAST_NAMES)
        q = self._names(p)
        first_i, last_i, number = q % nf, (q // nf) % nl, q // (nf * nl)
        sep = np.array([".", "_", "-", "."])[d.weighted("email-sep", p, (60, 15, 5, 20))]
        employer = self.employer(p)
        personal = (employer < 0) | (d.unit("personal-email", p) < 0.2)
        companies = self.companies(np.maximum(employer, 0))
        provider = d.below("provider", p, len(w.PERSONAL_DOMAINS))
        locals_ = [f"{_FIRST_FOLD[f]}{s}{_LAST_FOLD[la]}{n or ''}"
                   for f, la, s, n in zip(first_i.tolist(), last_i.tolist(), sep.tolist(), number.tolist(),
                                          strict=True)]
        domains = [w.PERSONAL_DOMAINS[v] if own else dom
                   for own, v, dom in zip(personal.tolist(), provider.tolist(), companies["domain"], strict=True)]
        city = np.where(d.unit("lives-near-work", p) < 0.7, companies["city"], d.below("city", p, len(w.CITIES)))
        return {
            "first": [w.FIRST_NAMES[i] for i in first_i.tolist()],
            "last": [w.LAST_NAMES[i] for i in last_i.tolist()],
            "local": locals_, "personal": personal.tolist(), "domain": domains,
            "email": [f"{lo}@{do}" for lo, do in zip(locals_, domains, strict=True)],
            "employer": employer.tolist(),
            "company": [name if k >= 0 else None for k, name in zip(employer.tolist(), companies["name"], strict=True)],
            "title": self.titles("title", p), "city": city.tolist(), "phone": self.phones("phone", p, city),
        }

    def alternate_email(self, side: str, local: str, domain: str, code: int) -> str:
        """Another address of the same person (a personal one; another provider if already personal)."""
        options = [x for x in w.ALTERNATE_DOMAINS[side] if x != domain]
        return f"{local}@{options[code % len(options)]}"

    def titles(self, stream: str, idx: np.ndarray) -> list[str]:
        d = self.draw
        style = d.weighted(f"{stream}/style", idx, _TITLE_STYLE)
        execs = d.below(f"{stream}/exec", idx, len(w.EXECUTIVE_TITLES))
        seniority = d.below(f"{stream}/seniority", idx, len(w.SENIORITY))
        function = d.below(f"{stream}/function", idx, len(w.FUNCTIONS))
        role = d.below(f"{stream}/role", idx, len(w.ROLES))
        return [w.EXECUTIVE_TITLES[e] if s == 0 else f"{w.SENIORITY[sn]}{w.FUNCTIONS[f]} {w.ROLES[r]}"
                for s, e, sn, f, r in zip(style.tolist(), execs.tolist(), seniority.tolist(), function.tolist(),
                                          role.tolist(), strict=True)]

    def phones(self, stream: str, idx: np.ndarray, city: np.ndarray) -> list[str]:
        digits = self.draw.bits(stream, idx)
        a = ((digits % U64(800)) + U64(200)).tolist()
        b = ((digits >> U64(16)) % U64(1000)).tolist()
        c = ((digits >> U64(32)) % U64(10000)).tolist()
        return [f"+{w.CITIES[ci][2]} {x:03d} {y:03d} {z:04d}"
                for ci, x, y, z in zip(city.tolist(), a, b, c, strict=True)]

    # ---- companies ----------------------------------------------------------------------------------------
    def companies(self, k: np.ndarray) -> dict[str, list]:
        """Traits of universe companies k: name, unique domain, industry pair, size, place, phone."""
        d = self.draw
        na, nb = len(w.COMPANY_A), len(w.COMPANY_B)
        q = self._domains(k % self._domain_space)
        extra = (k // self._domain_space).tolist()
        a, b, shape = (q % na).tolist(), ((q // na) % nb).tolist(), (q // (na * nb)).tolist()
        names, domains = [], []
        for ai, bi, si, n in zip(a, b, shape, extra, strict=True):
            prefix, sep, suffix, tld = DOMAIN_SHAPES[si]
            number = str(n) if n else ""
            names.append(f"{w.COMPANY_A[ai]}{number} {w.COMPANY_B[bi]}")
            domains.append(f"{prefix}{_A_FOLD[ai]}{number}{sep}{_B_FOLD[bi]}{suffix}.{tld}")
        band = d.weighted("employees", k, _EMPLOYEE_WEIGHTS)
        low = np.array([x for x, _ in _EMPLOYEE_BANDS])[band]
        high = np.array([y for _, y in _EMPLOYEE_BANDS])[band]
        employees = low + (d.unit("employees/n", k) * (high - low + 1)).astype(np.int64)
        revenue = employees * (80 + d.below("revenue", k, 170)) * 1000
        city = d.below("company-city", k, len(w.CITIES))
        return {"name": names, "domain": domains, "industry": d.below("industry", k, len(INDUSTRY_PAIRS)).tolist(),
                "employees": employees.tolist(), "revenue": revenue.tolist(), "city": city,
                "phone": self.phones("company-phone", k, city),
                "suffix": d.below("legal-suffix", k, len(w.LEGAL_SUFFIXES)).tolist()}

    # ---- owners -------------------------------------------------------------------------------------------
    def owners(self) -> list[dict]:
        """Every owner: [0, shared_owners) on both sides, then Salesforce-only, then HubSpot-only."""
        lay, d = self.layout, self.draw
        idx = np.arange(lay.owners)
        home = f"{_A_FOLD[d.below('home', idx[:1], len(_A_FOLD))[0]]}corp.com"
        firsts = d.below("owner-first", idx, len(w.FIRST_NAMES)).tolist()
        lasts = d.below("owner-last", idx, len(w.LAST_NAMES)).tolist()
        out, seen = [], set()
        for o, (f, la) in enumerate(zip(firsts, lasts, strict=True)):
            local = f"{_FIRST_FOLD[f]}.{_LAST_FOLD[la]}"
            if local in seen:
                local = f"{local}{o}"
            seen.add(local)
            side = ("both" if o < lay.shared_owners else
                    "salesforce" if o < lay.shared_owners + lay.sf_only_owners else "hubspot")
            out.append({"first": w.FIRST_NAMES[f], "last": w.LAST_NAMES[la], "email": f"{local}@{home}",
                        "side": side})
        return out

    def owner(self, side: str, stream: str, idx: np.ndarray) -> np.ndarray:
        """Owner (universe index) of records idx: mostly a shared owner, so a shared person keeps their rep."""
        lay, d = self.layout, self.draw
        shared = d.below(f"{stream}/owner", idx, lay.shared_owners)
        own_count = lay.sf_only_owners if side == "salesforce" else lay.hs_only_owners
        if own_count == 0:
            return shared
        offset = lay.shared_owners + (0 if side == "salesforce" else lay.sf_only_owners)
        own = offset + d.below(f"{stream}/{side}-owner", idx, own_count)
        return np.where(d.unit(f"{stream}/{side}-own", idx) < 0.15, own, shared)
