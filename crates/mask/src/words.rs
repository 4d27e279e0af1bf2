//! Word lists for plausible names. Made-up combinations of common given names and
//! surnames from several languages, and neutral words for companies; none of them
//! comes from the data being masked.

pub(crate) const GIVEN: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karin",
    "Lars", "Maria", "Nils", "Olga", "Paul", "Rosa", "Simon", "Tina", "Ugo", "Vera", "Walter",
    "Yara", "Zoe", "Amir", "Bianca", "Carlos", "Dana", "Erik", "Fatima", "Georg", "Hanna", "Ivan",
    "Julia", "Kenji", "Lea", "Marco", "Nora", "Oscar", "Priya", "Quentin", "Rita", "Sofia",
    "Tomas", "Ulla", "Victor", "Wendy", "Xavier", "Yusuf", "Zara",
];

pub(crate) const FAMILY: &[&str] = &[
    "Andersen",
    "Baker",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nielsen",
    "Olsen",
    "Petersen",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vogel",
    "Weber",
    "Young",
    "Zimmermann",
    "Alvarez",
    "Berg",
    "Chen",
    "Dahl",
    "Engel",
    "Ferrari",
    "Gomez",
    "Holm",
    "Iversen",
    "Janssen",
    "Keller",
    "Lund",
    "Meyer",
    "Novak",
    "Ortiz",
    "Park",
    "Richter",
    "Silva",
    "Thomsen",
    "Urban",
    "Varga",
    "Wolf",
    "Yilmaz",
    "Zeller",
    "Lindqvist",
];

pub(crate) const COMPANY_FIRST: &[&str] = &[
    "Acme", "Blue", "Cedar", "Delta", "Eagle", "Falcon", "Granite", "Harbor", "Iron", "Juniper",
    "Kestrel", "Linden", "Maple", "Nordic", "Orbit", "Pine", "Quartz", "River", "Summit", "Timber",
    "Unity", "Vista", "Willow", "Zenith", "Aurora", "Beacon", "Copper", "Dune", "Ember", "Fjord",
];

pub(crate) const COMPANY_SECOND: &[&str] = &[
    "Trading",
    "Systems",
    "Logistics",
    "Foods",
    "Industries",
    "Partners",
    "Supply",
    "Works",
    "Labs",
    "Goods",
    "Services",
    "Holdings",
    "Retail",
    "Metals",
    "Textiles",
    "Energy",
    "Media",
    "Tools",
    "Farms",
    "Motors",
];

pub(crate) const COMPANY_FORM: &[&str] = &["Ltd", "Inc", "GmbH", "A/S", "AB", "BV", "SA", "LLC"];

/// Endings that make a value a company's name rather than a person's.
pub(crate) const COMPANY_HINTS: &[&str] = &[
    "ltd", "inc", "gmbh", "a/s", "ab", "bv", "sa", "llc", "corp", "co", "ag", "oy", "plc", "aps",
    "as", "srl", "spa", "company", "group",
];
