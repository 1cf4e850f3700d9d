"""Built-in vocabularies of the seed: word lists for names, companies, titles and places, and value tables."""

from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret",
    "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie",
    "Ronald", "Rebecca", "Jason", "Sharon", "Edward", "Laura", "Jeffrey", "Cynthia", "Ryan", "Dorothy",
    "Jacob", "Amy", "Gary", "Kathleen", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Emma",
    "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Nicole", "Scott", "Anna", "Brandon", "Samantha",
    "Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel", "Patrick",
    "Carolyn", "Frank", "Janet", "Raymond", "Maria", "Jack", "Olivia", "Dennis", "Heather", "Jerry", "Helen",
    "Tyler", "Catherine", "Aaron", "Diane", "Julie", "Adam", "Victoria", "Nathan", "Joyce", "Henry",
    "Lauren", "Zachary", "Kelly", "Douglas", "Christina", "Peter", "Ruth", "Kyle", "Joan", "Noah", "Virginia",
    "Ethan", "Judith", "Jeremy", "Evelyn", "Christian", "Hannah", "Walter", "Andrea", "Keith", "Megan",
    "Austin", "Cheryl", "Roger", "Jacqueline", "Terry", "Madison", "Sean", "Teresa", "Gerald", "Abigail",
    "Carl", "Sophia", "Dylan", "Martha", "Harold", "Sara", "Jordan", "Gloria", "Jesse", "Janice", "Bryan",
    "Kathryn", "Lawrence", "Ann", "Arthur", "Isabella", "Gabriel", "Judy", "Bruce", "Charlotte", "Logan",
    "Julia", "Billy", "Grace", "Joe", "Amber", "Alan", "Alice", "Juan", "Jean", "Elijah", "Denise", "Willie",
    "Frances", "Albert", "Danielle", "Wayne", "Marilyn", "Randy", "Natalie", "Mason", "Beverly", "Vincent",
    "Diana", "Liam", "Brittany", "Roy", "Theresa", "Bobby", "Kayla", "Caleb", "Alexis", "Bradley", "Doris",
    "Russell", "Lori", "Lucas", "Tiffany", "Ahmed", "Priya", "Wei", "Yuki", "Olumide", "Fatima", "Mateo",
    "Ingrid", "Sven", "Chiara", "Lukas", "Aisha", "Raj", "Mei", "Kenji", "Zoë", "José", "Søren", "Renée",
    "Björn", "Chloé", "Dmitri", "Anaïs", "Siobhan", "Thandiwe", "Joaquín", "Amélie", "Tomasz", "Nikolai",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez",
    "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart",
    "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo",
    "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell", "Jenkins", "Perry", "Russell",
    "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez",
    "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin",
    "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina",
    "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez",
    "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb",
    "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez",
    "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner",
    "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice",
    "Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner",
    "Payne", "Grant", "Dunn", "Kowalski", "Nakamura", "Okafor", "Haddad", "Larsen", "Rossi", "Novak",
    "Yamamoto", "Singh", "Wang", "Zhang", "Ivanova", "Schneider", "Dubois", "Bianchi", "O'Brien",
    "O'Connor", "Van der Berg", "De la Cruz", "Müller", "Jørgensen", "Núñez", "Nowakowski", "Mbeki",
    "Al-Sayed", "Fitzgerald", "MacLeod", "St. Clair", "Østergaard", "Gauthier", "Lefèvre", "Papadopoulos",
)

# Company names are "<A> <B>" (Northwind Analytics); the domain is built from the same two words.
COMPANY_A = (
    "Acme", "Apex", "Atlas", "Aurora", "Beacon", "Birch", "Blue", "Bright", "Cedar", "Summit", "Cobalt",
    "Copper", "Crest", "Crimson", "Delta", "Echo", "Ember", "Evergreen", "Falcon", "Fir", "Frontier", "Gate",
    "Golden", "Granite", "Harbor", "Hawk", "Helix", "Horizon", "Iron", "Jade", "Juniper", "Keystone", "Lake",
    "Lantern", "Liberty", "Lighthouse", "Lunar", "Maple", "Meridian", "Mesa", "Metro", "Nimbus", "Noble",
    "North", "Northwind", "Nova", "Oak", "Ocean", "Omega", "Onyx", "Orbit", "Orchid", "Pacific", "Peak",
    "Pine", "Pioneer", "Pixel", "Polar", "Prairie", "Prime", "Quantum", "Quartz", "Radiant", "Rapid", "Raven",
    "Red", "Redwood", "Ridge", "River", "Rock", "Sage", "Sapphire", "Signal", "Silver", "Sky", "Solar",
    "Spark", "Spruce", "Star", "Sterling", "Stone", "Sun", "Swift", "Terra", "Thunder", "Tidal", "Timber",
    "Titan", "Trail", "True", "Twin", "Union", "Unity", "Valley", "Vanguard", "Vertex", "Vista", "Wave",
    "West", "Willow", "Wind", "Wolf", "Zen", "Zenith", "Alder", "Amber", "Arrow", "Aspen", "Bay", "Bluebird",
    "Canyon", "Cardinal", "Citadel", "Clear", "Cloud", "Coast", "Compass", "Coral", "Cypress", "Dune",
    "Eagle", "East", "Elm", "Fable", "Fern", "Flint", "Forge", "Fox", "Glacier", "Grove", "Hazel",
)
COMPANY_B = (
    "Analytics", "Systems", "Labs", "Solutions", "Software", "Networks", "Logistics", "Health", "Energy",
    "Foods", "Capital", "Partners", "Dynamics", "Robotics", "Media", "Works", "Industries", "Holdings",
    "Consulting", "Data", "Digital", "Devices", "Designs", "Freight", "Goods", "Group", "Insights",
    "Instruments", "Interactive", "Logic", "Manufacturing", "Materials", "Medical", "Metrics", "Mobile",
    "Motors", "Outfitters", "Pharma", "Power", "Progress", "Publishing", "Resources", "Retail", "Security",
    "Services", "Studios", "Supply", "Technologies", "Telecom", "Therapeutics", "Trading", "Transit",
    "Ventures", "Vision", "Wireless", "Widgets", "Bank", "Biotech", "Brands", "Builders", "Cloud", "Commerce",
    "Communications", "Construction", "Craft", "Engineering", "Financial", "Fitness", "Apparel", "Hospitality",
    "Insurance", "Learning", "Legal", "Machines", "Marine", "Outdoor", "Packaging", "Payments", "Precision",
    "Realty", "Renewables", "Research", "Semiconductor", "Shipping", "Sports", "Textiles", "Travel",
    "Utilities", "Aerospace", "Agritech", "Automation", "Chemicals", "Clinics", "Education", "Electric",
)
LEGAL_SUFFIXES = ("Inc.", "LLC", "Ltd", "GmbH", "Corp.", "Co.", "S.A.", "AG", "Pty Ltd", "B.V.")
TLDS = ("com", "com", "com", "com", "io", "co", "net", "de", "co.uk", "ai", "fr", "nl")
# Domain shapes: {a}{b}, {a}-{b}, get{a}{b}, {a}{b}hq.
DOMAIN_FORMS = 4
# Personal mail providers, split in two so a person's alternate address differs between the two CRMs.
PERSONAL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "proton.me")
ALTERNATE_DOMAINS = {"hubspot": ("gmail.com", "yahoo.com", "hotmail.com"),
                     "salesforce": ("outlook.com", "icloud.com", "proton.me")}

SENIORITY = ("", "", "", "Senior ", "Junior ", "Lead ", "Principal ", "Associate ")
FUNCTIONS = ("Marketing", "Sales", "Engineering", "Finance", "Operations", "Product", "IT", "Procurement",
             "Customer Success", "Human Resources", "Data", "Security", "Legal", "Supply Chain", "Design")
ROLES = ("Manager", "Specialist", "Analyst", "Engineer", "Coordinator", "Consultant", "Administrator",
         "Director", "Architect", "Representative")
EXECUTIVE_TITLES = ("CEO", "CFO", "CTO", "COO", "CMO", "CIO", "Founder", "Co-Founder", "President", "Owner",
                    "General Manager", "Managing Director")

# (city, country, international dialling code)
CITIES = (
    ("New York", "United States", "1"), ("San Francisco", "United States", "1"), ("Chicago", "United States", "1"),
    ("Austin", "United States", "1"), ("Boston", "United States", "1"), ("Seattle", "United States", "1"),
    ("Denver", "United States", "1"), ("Atlanta", "United States", "1"), ("Miami", "United States", "1"),
    ("Los Angeles", "United States", "1"), ("Dallas", "United States", "1"), ("Portland", "United States", "1"),
    ("Minneapolis", "United States", "1"), ("Raleigh", "United States", "1"), ("Phoenix", "United States", "1"),
    ("Toronto", "Canada", "1"), ("Vancouver", "Canada", "1"), ("Montréal", "Canada", "1"),
    ("London", "United Kingdom", "44"), ("Manchester", "United Kingdom", "44"), ("Edinburgh", "United Kingdom", "44"),
    ("Dublin", "Ireland", "353"), ("Berlin", "Germany", "49"), ("München", "Germany", "49"),
    ("Hamburg", "Germany", "49"), ("Paris", "France", "33"), ("Lyon", "France", "33"),
    ("Amsterdam", "Netherlands", "31"), ("Rotterdam", "Netherlands", "31"), ("Madrid", "Spain", "34"),
    ("Barcelona", "Spain", "34"), ("Milan", "Italy", "39"), ("Zürich", "Switzerland", "41"),
    ("Stockholm", "Sweden", "46"), ("Copenhagen", "Denmark", "45"), ("Oslo", "Norway", "47"),
    ("Helsinki", "Finland", "358"), ("Warsaw", "Poland", "48"), ("Prague", "Czech Republic", "420"),
    ("Vienna", "Austria", "43"), ("Sydney", "Australia", "61"), ("Melbourne", "Australia", "61"),
    ("Auckland", "New Zealand", "64"), ("Singapore", "Singapore", "65"), ("Tokyo", "Japan", "81"),
    ("Bengaluru", "India", "91"), ("Mumbai", "India", "91"), ("São Paulo", "Brazil", "55"),
    ("Mexico City", "Mexico", "52"), ("Cape Town", "South Africa", "27"), ("Lagos", "Nigeria", "234"),
    ("Tel Aviv", "Israel", "972"), ("Dubai", "United Arab Emirates", "971"),
)

PRODUCTS = ("Platform License", "Enterprise Plan", "Starter Plan", "Annual Renewal", "Expansion", "Pilot",
            "Professional Services", "Support Upgrade", "Add-on Seats", "Multi-year Agreement", "Onboarding Package",
            "Analytics Module", "Integration Bundle", "Migration Project")
# The catalogue both CRMs carry (the same SKUs: the company sells the same things whichever CRM a deal is in), with
# list prices, for PRODUCTS in order.
PRODUCT_PRICES = (12000, 30000, 4000, 9000, 6000, 2500, 15000, 3500, 800, 45000, 5000, 7000, 6500, 20000)
PRODUCT_SKUS = tuple(f"SKU-{i + 1:03d}" for i in range(len(PRODUCTS)))
LINE_ITEM_SHARE = 0.5  # of deals (opportunities) that list their product as a line item
CASE_SUBJECTS = ("Cannot log in", "Invoice discrepancy", "Export fails with timeout", "Request for API access",
                 "Data not syncing", "Password reset not received", "Feature request: bulk edit",
                 "Slow dashboard loading", "Integration error 500", "Need to add more seats", "Refund request",
                 "Report shows wrong totals", "SSO configuration help", "Mobile app crashes on start",
                 "Question about pricing tiers", "Webhook deliveries delayed")
TASK_SUBJECTS = ("Call", "Send Quote", "Send Letter", "Other", "Follow up on proposal", "Schedule demo",
                 "Check in after onboarding", "Send contract for signature", "Discovery call",
                 "Renewal conversation", "Share case study", "Confirm budget with finance")
NOTE_BODIES = ("Spoke with {first} about next quarter's budget; interested in the {product}.",
               "{first} asked for a comparison with their current vendor.",
               "Left a voicemail for {first}; will try again Thursday.",
               "Met {first} at the conference booth, strong interest in integrations.",
               "{first} is moving to a new role; ask for an introduction to the successor.",
               "Pricing objections raised by {first}; escalate to sales manager.",
               "{first} confirmed the pilot went well and wants a proposal for the {product}.")

# Deliberately overlong values a person or a script pasted into a name or title field.
LONG_FIRST_NAME_NOTES = ("(met at Dreamforce, follow up about pricing)", "- please check spelling with billing team",
                         "and colleagues from the procurement department")
LONG_LAST_NAME_NOTES = ("- DO NOT CONTACT - unsubscribed per request, see support ticket in the old helpdesk system",
                        "(duplicate of the record imported from the 2019 trade show list, verify before merging!)")
LONG_TITLE = ("Senior Vice President of Global Strategic Partnerships, Channel Alliances, Business Development "
              "and Ecosystem Growth for EMEA, APAC and the Americas")


# ---------------------------------------------------------------------------------------------------------
# Industry values: pairs the two CRMs agree on, and values the other side has no counterpart for.
# ---------------------------------------------------------------------------------------------------------

# The pairs every mapping agrees on (crm_sync.config.defaults maps them alike), all HubSpot options: normal data.
INDUSTRY_PAIRS: tuple[tuple[str, str], ...] = (
    ("Apparel", "APPAREL_FASHION"), ("Banking", "BANKING"), ("Biotechnology", "BIOTECHNOLOGY"),
    ("Chemicals", "CHEMICALS"), ("Construction", "CONSTRUCTION"), ("Education", "EDUCATION_MANAGEMENT"),
    ("Entertainment", "ENTERTAINMENT"), ("Finance", "FINANCIAL_SERVICES"), ("Food & Beverage", "FOOD_BEVERAGES"),
    ("Government", "GOVERNMENT_ADMINISTRATION"), ("Healthcare", "HOSPITAL_HEALTH_CARE"),
    ("Hospitality", "HOSPITALITY"), ("Insurance", "INSURANCE"), ("Not For Profit", "NONPROFIT_ORGANIZATION_MANAGEMENT"),
    ("Retail", "RETAIL"), ("Technology", "COMPUTER_SOFTWARE"), ("Telecommunications", "TELECOMMUNICATIONS"),
    ("Transportation", "TRANSPORTATION_TRUCKING_RAILROAD"), ("Utilities", "UTILITIES"),
)
# Valid HubSpot industries that no Salesforce Industry value stands for.
HUBSPOT_ONLY_INDUSTRIES = ("ACCOUNTING", "AIRLINES_AVIATION", "E_LEARNING", "LEGAL_SERVICES", "REAL_ESTATE",
                           "PHARMACEUTICALS", "WHOLESALE", "MARKETING_AND_ADVERTISING")
# Values from an older Salesforce picklist, still on records (written around validation), that HubSpot rejects.
LEGACY_SALESFORCE_INDUSTRIES = ("Aerospace", "Pharmaceuticals", "Real Estate", "Legal", "Crypto")
# HubSpot lead status -> Salesforce Lead Status, as crm_sync.config.defaults maps them.
LEAD_STATUS_MAP = {"NEW": "Open - Not Contacted", "OPEN": "Open - Not Contacted",
                   "ATTEMPTED_TO_CONTACT": "Working - Contacted", "CONNECTED": "Working - Contacted",
                   "IN_PROGRESS": "Working - Contacted", "OPEN_DEAL": "Working - Contacted",
                   "BAD_TIMING": "Closed - Not Converted", "UNQUALIFIED": "Closed - Not Converted"}
# A lead status option the portal retired: records keep it, and neither side's picklist knows it.
UNMAPPED_LEAD_STATUS = "NURTURING"
LEGACY_LEAD_STATUSES = ("Nurturing", "Recycled")
# Malformed addresses both CRMs reject: each takes (local, domain).
MALFORMED_EMAILS = ("{local}.{domain}", "{local} @{domain}", "{local}@@{domain}", "{local}@{host}",
                    "{local}@{host},{tld}")
# (prefix, separator, suffix, tld): every shape gives a distinct domain for the same two words.
DOMAIN_SHAPES = tuple([(p, "", s, "com") for p, s in (("", ""), ("get", ""), ("", "hq"), ("try", ""),
                                                    ("the", ""), ("", "group"), ("", "inc"))]
                      + [("", "-", "", "com")]
                      + [("", sep, "", tld) for tld in ("io", "co", "net", "de", "co.uk", "ai", "fr", "nl")
                         for sep in ("", "-")])
