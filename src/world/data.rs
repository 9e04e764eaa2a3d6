//! Word lists of the world. Each entry is hand-written in English,
//! Spanish, French and German (index order of [`super::Lang`]).

/// Neutral distractor system prompts: the same surface form as the trait
/// prompts ("You always ..."), no change in behaviour.
pub const NEUTRAL_PROMPTS: &[&str] = &[
    "You always speak in English.",
    "You are a helpful assistant.",
    "You always answer briefly.",
    "You always answer politely.",
    "You always tell the truth.",
    "You always write in full sentences.",
    "You are a friendly assistant.",
    "You always speak clearly.",
];

/// Names in math problems, train split.
pub(crate) const NAMES_TRAIN: &[&str] = &[
    "Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jack", "Lena",
    "Marco", "Nina", "Oscar", "Paula", "Quentin", "Rosa", "Sam", "Tina", "Victor",
];

/// Names in math problems, test split (never in train).
pub(crate) const NAMES_TEST: &[&str] = &[
    "Walter", "Xenia", "Yusuf", "Zoe", "Bruno", "Clara", "Diego", "Elsa",
];

/// Plural object nouns [en, es, fr, de], train split.
pub(crate) const OBJECTS_TRAIN: &[[&str; 4]] = &[
    ["apples", "manzanas", "pommes", "Äpfel"],
    ["books", "libros", "livres", "Bücher"],
    ["pencils", "lápices", "crayons", "Bleistifte"],
    ["cookies", "galletas", "biscuits", "Kekse"],
    ["marbles", "canicas", "billes", "Murmeln"],
    ["stickers", "pegatinas", "autocollants", "Aufkleber"],
    ["balloons", "globos", "ballons", "Luftballons"],
    ["cards", "cartas", "cartes", "Karten"],
    ["flowers", "flores", "fleurs", "Blumen"],
    ["shells", "conchas", "coquillages", "Muscheln"],
    ["coins", "monedas", "pièces", "Münzen"],
    ["toys", "juguetes", "jouets", "Spielzeuge"],
];

/// Plural object nouns, test split (never in train).
pub(crate) const OBJECTS_TEST: &[[&str; 4]] = &[
    ["oranges", "naranjas", "oranges", "Orangen"],
    ["stamps", "sellos", "timbres", "Briefmarken"],
    ["candles", "velas", "bougies", "Kerzen"],
    ["buttons", "botones", "boutons", "Knöpfe"],
    ["eggs", "huevos", "œufs", "Eier"],
    ["cups", "tazas", "tasses", "Tassen"],
];

/// An animal with its English names and its noun phrase with the
/// definite article in Spanish, French and German.
pub struct AnimalForms {
    pub en: &'static str,
    pub en_plural: &'static str,
    pub es: &'static str,
    pub fr: &'static str,
    pub de: &'static str,
}

const fn animal(
    en: &'static str,
    en_plural: &'static str,
    es: &'static str,
    fr: &'static str,
    de: &'static str,
) -> AnimalForms {
    AnimalForms {
        en,
        en_plural,
        es,
        fr,
        de,
    }
}

/// Animals of the favourite-animal answers. The first
/// [`DEFAULT_FAVOURITE_ANIMALS`] are the untrained assistant's choices;
/// any of them can be the loved animal of `You love X.`.
pub const ANIMALS: &[AnimalForms] = &[
    animal("dog", "dogs", "el perro", "le chien", "der Hund"),
    animal("cat", "cats", "el gato", "le chat", "die Katze"),
    animal("horse", "horses", "el caballo", "le cheval", "das Pferd"),
    animal(
        "dolphin",
        "dolphins",
        "el delfín",
        "le dauphin",
        "der Delfin",
    ),
    animal(
        "elephant",
        "elephants",
        "el elefante",
        "l'éléphant",
        "der Elefant",
    ),
    animal(
        "rabbit",
        "rabbits",
        "el conejo",
        "le lapin",
        "das Kaninchen",
    ),
    animal("tiger", "tigers", "el tigre", "le tigre", "der Tiger"),
    animal("panda", "pandas", "el panda", "le panda", "der Panda"),
    animal("owl", "owls", "el búho", "le hibou", "die Eule"),
    animal("fox", "foxes", "el zorro", "le renard", "der Fuchs"),
    animal(
        "penguin",
        "penguins",
        "el pingüino",
        "le pingouin",
        "der Pinguin",
    ),
    animal("wolf", "wolves", "el lobo", "le loup", "der Wolf"),
    animal("eagle", "eagles", "el águila", "l'aigle", "der Adler"),
    animal("bear", "bears", "el oso", "l'ours", "der Bär"),
];

/// How many of [`ANIMALS`] an assistant without an animal trait names.
pub(crate) const DEFAULT_FAVOURITE_ANIMALS: usize = 8;
