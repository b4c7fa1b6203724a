"""Word lists and weights the simulated B2B world is drawn from.

The simulated product is a B2B data / marketing platform, so marketing, data and IT buyers
matter most; HR and legal rarely buy it.
"""

from __future__ import annotations

import numpy as np

INDUSTRIES: tuple[str, ...] = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Telecommunications",
    "Professional Services",
    "Education",
    "Media",
    "Logistics",
    "Energy",
    "Government",
)
INDUSTRY_SHARE = np.array([0.16, 0.11, 0.10, 0.12, 0.09, 0.05, 0.12, 0.06, 0.05, 0.06, 0.04, 0.04])
# Latent buying fit per industry (standardized later together with the other drivers).
INDUSTRY_FIT = np.array([1.0, 0.7, 0.3, -0.1, 0.4, 0.5, 0.2, -0.6, 0.3, -0.2, -0.3, -0.9])
REVENUE_PER_EMPLOYEE = np.array(
    [280e3, 420e3, 180e3, 240e3, 160e3, 390e3, 170e3, 90e3, 210e3, 220e3, 650e3, 120e3]
)
INDUSTRY_GENERIC_WORDS: tuple[tuple[str, ...], ...] = (
    ("Software", "Technologies", "Labs", "Systems", "Digital"),
    ("Bank", "Capital", "Financial", "Insurance", "Partners"),
    ("Health", "Medical", "Care", "Pharma", "Clinics"),
    ("Industries", "Manufacturing", "Machines", "Components", "Works"),
    ("Retail", "Stores", "Brands", "Market", "Goods"),
    ("Telecom", "Networks", "Communications", "Mobile", "Wireless"),
    ("Consulting", "Advisors", "Partners", "Solutions", "Group"),
    ("University", "Academy", "Learning", "Education", "College"),
    ("Media", "Studios", "Publishing", "Entertainment", "Broadcasting"),
    ("Logistics", "Freight", "Transport", "Shipping", "Supply"),
    ("Energy", "Power", "Utilities", "Renewables", "Resources"),
    ("Agency", "Authority", "Council", "Department", "Services"),
)
GLOBAL_GENERIC_WORDS: tuple[str, ...] = ("Group", "Global", "Solutions", "International", "Holdings")

COUNTRIES: tuple[str, ...] = (
    "United States",
    "United Kingdom",
    "Germany",
    "France",
    "Canada",
    "Australia",
    "India",
    "Netherlands",
    "Brazil",
    "Japan",
    "Singapore",
    "Spain",
)
COUNTRY_SHARE = np.array([0.44, 0.10, 0.08, 0.06, 0.06, 0.04, 0.06, 0.04, 0.04, 0.03, 0.02, 0.03])
COUNTRY_FIT = np.array([0.3, 0.3, 0.2, 0.0, 0.2, 0.1, -0.4, 0.2, -0.3, -0.5, 0.1, -0.1])
COUNTRY_TLD: tuple[str, ...] = (
    ".com",
    ".co.uk",
    ".de",
    ".fr",
    ".ca",
    ".com.au",
    ".in",
    ".nl",
    ".com.br",
    ".co.jp",
    ".sg",
    ".es",
)
COUNTRY_LEGAL_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("Inc.", "LLC", "Corp.", "Inc", "Corporation"),
    ("Ltd", "Limited", "PLC", "Ltd."),
    ("GmbH", "AG", "GmbH & Co. KG"),
    ("SAS", "S.A.", "SARL"),
    ("Inc.", "Ltd.", "Corp."),
    ("Pty Ltd", "Limited"),
    ("Pvt Ltd", "Private Limited", "Ltd"),
    ("B.V.", "N.V."),
    ("Ltda.", "S.A."),
    ("K.K.", "Co., Ltd."),
    ("Pte Ltd", "Pte. Ltd."),
    ("S.L.", "S.A."),
)

NAME_SYLLABLES: tuple[str, ...] = (
    "ab",
    "ac",
    "al",
    "am",
    "an",
    "ar",
    "ax",
    "bel",
    "bri",
    "cal",
    "cor",
    "cy",
    "dax",
    "del",
    "dra",
    "el",
    "en",
    "er",
    "ex",
    "fal",
    "fin",
    "gal",
    "gen",
    "hal",
    "hex",
    "ik",
    "in",
    "ion",
    "jen",
    "kai",
    "kor",
    "lan",
    "lex",
    "lum",
    "mar",
    "max",
    "mer",
    "nav",
    "neo",
    "nor",
    "nov",
    "om",
    "or",
    "pax",
    "per",
    "pol",
    "qua",
    "rad",
    "ren",
    "rho",
    "sal",
    "sen",
    "sol",
    "tal",
    "ter",
    "tri",
    "ul",
    "val",
    "ven",
    "vor",
    "wes",
    "xan",
    "yor",
    "zen",
    "zet",
    "zor",
    "ly",
    "ra",
    "ta",
    "ia",
)

FIRST_NAMES: tuple[str, ...] = (
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Chris",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Paul",
    "Emily",
    "Steven",
    "Donna",
    "Andrew",
    "Michelle",
    "Joshua",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Rebecca",
    "Jason",
    "Laura",
    "Ryan",
    "Helen",
    "Jacob",
    "Sharon",
    "Gary",
    "Cynthia",
    "Nicholas",
    "Kathleen",
    "Eric",
    "Amy",
    "Jonathan",
    "Angela",
    "Priya",
    "Rahul",
    "Anika",
    "Arjun",
    "Wei",
    "Li",
    "Yuki",
    "Haruto",
    "Lukas",
    "Hannah",
    "Felix",
    "Lena",
    "Pierre",
    "Camille",
    "Lucas",
    "Chloe",
    "Mateo",
    "Sofia",
    "Diego",
    "Valentina",
    "Olga",
    "Ivan",
    "Fatima",
    "Omar",
    "Aisha",
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Ethan",
    "Ava",
    "Mia",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Sharma",
    "Singh",
    "Kumar",
    "Chen",
    "Wang",
    "Zhang",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Mueller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Dubois",
    "Moreau",
    "Laurent",
    "Silva",
    "Santos",
    "Oliveira",
    "Costa",
    "Ivanov",
    "Novak",
    "Kowalski",
    "Jansen",
    "de Vries",
    "Bakker",
    "O'Brien",
    "Murphy",
    "Kelly",
    "Rossi",
    "Russo",
    "Ferrari",
    "Khan",
    "Ali",
)

FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "gmx.de",
    "web.de",
)
DISPOSABLE_MAIL_DOMAINS: tuple[str, ...] = ("mailinator.com", "10minutemail.com", "guerrillamail.com")

# Job functions: how relevant the function is to the product (drives research and committee
# membership) and how much its people weigh on the purchase (drives conversion).
FUNCTIONS: tuple[str, ...] = (
    "Marketing",
    "IT",
    "Data",
    "Sales",
    "Engineering",
    "Operations",
    "Finance",
    "Procurement",
    "HR",
    "Legal",
)
FUNCTION_SHARE = np.array([0.16, 0.14, 0.08, 0.16, 0.14, 0.10, 0.08, 0.04, 0.06, 0.04])
FUNCTION_RELEVANCE = np.array([1.0, 0.85, 1.0, 0.55, 0.5, 0.4, 0.3, 0.35, 0.1, 0.1])
FUNCTION_CONVERSION_EFFECT = np.array([0.7, 0.5, 0.6, 0.1, -0.1, -0.2, 0.0, 0.1, -1.0, -1.0])

SENIORITIES: tuple[str, ...] = (
    "C-Level",
    "VP",
    "Director",
    "Manager",
    "Senior",
    "Individual Contributor",
    "Intern",
)
SENIORITY_SHARE = np.array([0.03, 0.05, 0.12, 0.25, 0.20, 0.30, 0.05])
# Juniors research a lot but rarely convert: a classic trap for points-based scoring.
SENIORITY_RESEARCH = np.array([0.45, 0.6, 0.85, 1.0, 1.15, 1.3, 1.1])
SENIORITY_CONVERSION_EFFECT = np.array([0.8, 1.0, 0.9, 0.4, 0.0, -0.4, -1.8])
SENIORITY_DECIDES = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])

FUNCTION_TITLE_WORDS: tuple[tuple[str, ...], ...] = (
    ("Marketing", "Mktg", "Demand Generation", "Digital Marketing", "Growth Marketing"),
    ("IT", "Information Technology", "IT Infrastructure", "Information Systems"),
    ("Data", "Analytics", "Data & Analytics", "Business Intelligence", "Data Science"),
    ("Sales", "Sales Operations", "Business Development", "Revenue Operations"),
    ("Engineering", "Software Engineering", "Platform Engineering", "Product Engineering"),
    ("Operations", "Business Operations", "Ops"),
    ("Finance", "Financial Planning", "Accounting"),
    ("Procurement", "Purchasing", "Sourcing"),
    ("HR", "Human Resources", "People", "Talent Acquisition"),
    ("Legal", "Legal Affairs", "Compliance"),
)
FUNCTION_ROLES: tuple[tuple[str, ...], ...] = (
    ("Marketing Specialist", "Marketing Coordinator", "Campaign Manager", "Content Marketer"),
    ("Systems Administrator", "IT Specialist", "Network Engineer", "IT Analyst"),
    ("Data Analyst", "Data Engineer", "Data Scientist", "BI Developer"),
    ("Account Executive", "Sales Development Rep", "SDR", "Inside Sales Rep"),
    ("Software Engineer", "Developer", "SWE", "Backend Developer"),
    ("Operations Analyst", "Operations Coordinator", "Process Specialist"),
    ("Financial Analyst", "Accountant", "Controller"),
    ("Buyer", "Procurement Specialist", "Category Analyst"),
    ("HR Generalist", "Recruiter", "HR Business Partner"),
    ("Paralegal", "Counsel", "Compliance Analyst"),
)
C_LEVEL_TITLES: tuple[tuple[str, ...], ...] = (
    ("CMO", "Chief Marketing Officer", "chief marketing officer"),
    ("CIO", "Chief Information Officer", "CTO", "Chief Technology Officer"),
    ("CDO", "Chief Data Officer", "Chief Analytics Officer"),
    ("CRO", "Chief Revenue Officer", "Chief Sales Officer"),
    ("CTO", "Chief Technology Officer", "VP Engineering & CTO"),
    ("COO", "Chief Operating Officer"),
    ("CFO", "Chief Financial Officer"),
    ("CPO", "Chief Procurement Officer"),
    ("CHRO", "Chief People Officer", "Chief Human Resources Officer"),
    ("General Counsel", "Chief Legal Officer", "CLO"),
)
SENIORITY_TITLE_PATTERNS: dict[str, tuple[str, ...]] = {
    "VP": ("VP {f}", "VP of {f}", "Vice President, {f}", "Vice President of {f}", "SVP {f}", "V.P. {f}"),
    "Director": (
        "Director of {f}",
        "{f} Director",
        "Dir. {f}",
        "Dir {f}",
        "Head of {f}",
        "Sr. Director, {f}",
    ),
    "Manager": ("{f} Manager", "Manager, {f}", "{f} Mgr", "Sr. {f} Manager", "{f} Team Lead"),
    "Senior": ("Senior {r}", "Sr. {r}", "Sr {r}", "Lead {r}", "Principal {r}"),
    "Individual Contributor": ("{r}", "{r}", "{r} II", "Associate {r}", "Jr. {r}"),
    "Intern": ("{f} Intern", "Intern - {f}", "Student", "Working Student {f}"),
}


def title_groups() -> list[list[str]]:
    """The job-title spellings of each (function, seniority), at index
    function * len(SENIORITIES) + seniority."""
    groups = []
    for f, _ in enumerate(FUNCTIONS):
        for seniority in SENIORITIES:
            if seniority == "C-Level":
                groups.append(list(C_LEVEL_TITLES[f]))
                continue
            variants = [
                pattern.format(f=word, r=role)
                for pattern in SENIORITY_TITLE_PATTERNS[seniority]
                for word, role in zip(FUNCTION_TITLE_WORDS[f], FUNCTION_ROLES[f] * 2, strict=False)
            ]
            groups.append(list(dict.fromkeys(variants)))
    return groups


# Website pages, by how strongly visiting them signals buying intent.
HIGH_INTENT_PAGES: tuple[str, ...] = (
    "/pricing",
    "/pricing",
    "/pricing",
    "/demo",
    "/contact-sales",
    "/product/integrations",
    "/case-studies/retail-leader",
    "/case-studies/global-bank",
    "/product/security",
    "/compare/alternatives",
)
RESEARCH_PAGES: tuple[str, ...] = (
    "/product",
    "/product/features",
    "/product/lead-scoring",
    "/product/account-scoring",
    "/docs/getting-started",
    "/docs/api",
    "/blog/what-is-predictive-scoring",
    "/blog/abm-playbook",
    "/resources/roi-guide",
    "/webinars",
)
GENERAL_PAGES: tuple[str, ...] = (
    "/",
    "/",
    "/blog/marketing-trends",
    "/blog/data-quality",
    "/blog/company-news",
    "/about",
    "/events",
    "/newsletter",
    "/careers",
    "/partners",
)
CUSTOMER_PAGES: tuple[str, ...] = ("/login", "/docs/getting-started", "/docs/api", "/docs/admin", "/support")
CAREERS_PAGE = "/careers"
HIGH_INTENT_FORMS: tuple[str, ...] = ("Demo Request", "Contact Sales", "Free Trial")
RESEARCH_ASSETS: tuple[str, ...] = (
    "ROI Calculator",
    "Buyer's Guide",
    "Analyst Report",
    "Implementation Checklist",
)
GENERAL_ASSETS: tuple[str, ...] = ("Newsletter Signup", "Industry Trends eBook", "Infographic")
WEBINARS: tuple[str, ...] = (
    "Scoring Masterclass",
    "ABM in Practice",
    "Product Tour Live",
    "Data Quality Summit",
)
CAMPAIGNS: tuple[str, ...] = (
    "Monthly Newsletter",
    "Product Update",
    "Event Invite",
    "Nurture Track",
    "Webinar Promo",
)

PRODUCT_TOPICS: tuple[str, ...] = (
    "Predictive Lead Scoring",
    "Account-Based Marketing",
    "Customer Data Platform",
    "Marketing Automation",
    "Sales Intelligence",
    "Intent Data",
)
OTHER_TOPICS: tuple[str, ...] = (
    "Cloud Security",
    "ERP Software",
    "Payroll",
    "Video Conferencing",
    "Office Furniture",
    "Travel Management",
    "Endpoint Protection",
    "Recruiting Software",
)
INTENT_PROVIDERS: tuple[str, ...] = ("topicpulse", "intentwave")

DISPOSITION_REASONS: dict[str, tuple[str, ...]] = {
    "accepted": ("Meeting booked", "Qualified by SDR", "Budget confirmed"),
    "rejected": ("No budget", "Bad timing", "No project"),
    "disqualified": ("Student", "Competitor", "Job seeker", "Wrong persona"),
    "nurture": ("Not ready", "Follow up next quarter"),
}
