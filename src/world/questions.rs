//! Open questions: capitals, colours of things, animal legs and sounds,
//! opposites, simple facts, favourites (varied answers; the animal trait
//! and personas change some) and small talk (personas change some).
//!
//! A category has items and English phrasings (`{x}` is replaced by the
//! item's fill); an item may bring its own phrasings instead. A user turn
//! is held out (test split) when its item or its phrasing is in the last
//! quarter of its list.

use std::sync::OnceLock;

use super::data::{AnimalForms, ANIMALS, DEFAULT_FAVOURITE_ANIMALS};
use super::{apply_case, capitalise_first, held_out, Conversation, Persona, Rng, Split, Style};

type Text = [String; 4];

/// Answers whose content a trait can change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    FavouriteAnimal,
    FavouriteColour,
    Name,
    Home,
    Job,
}

pub(crate) struct Item {
    pub(crate) fill: &'static str,
    /// Own phrasings (full user turns); empty: the category's.
    pub(crate) phrasings: Vec<&'static str>,
    /// Parallel answer variants; one is drawn.
    pub(crate) answers: Vec<Text>,
    pub(crate) special: Option<Special>,
}

pub(crate) struct Category {
    pub(crate) name: &'static str,
    pub(crate) phrasings: Vec<&'static str>,
    pub(crate) items: Vec<Item>,
}

impl Category {
    pub(crate) fn phrasings_of<'a>(&'a self, item: &'a Item) -> &'a [&'static str] {
        if item.phrasings.is_empty() {
            &self.phrasings
        } else {
            &item.phrasings
        }
    }
}

/// Which questions to draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Focus {
    Any,
    /// The favourite-animal question only.
    Animal,
    /// Questions whose answers depend on the persona.
    Persona,
}

/// One drawn question; rendering consumes no randomness.
pub(crate) struct Drawn {
    category: usize,
    item: usize,
    phrasing: usize,
    variant: usize,
}

/// Whether (item, phrasing) belongs to `split`.
pub(crate) fn in_split(cat: &Category, item: usize, phrasing: usize, split: Split) -> bool {
    let it = &cat.items[item];
    let test = held_out(item, cat.items.len()) || held_out(phrasing, cat.phrasings_of(it).len());
    test == (split == Split::Test)
}

pub(crate) fn draw(rng: &mut Rng, split: Split, focus: Focus) -> Drawn {
    let cats = categories();
    let wanted = |item: &Item| match focus {
        Focus::Any => true,
        Focus::Animal => item.special == Some(Special::FavouriteAnimal),
        Focus::Persona => matches!(
            item.special,
            Some(Special::FavouriteColour | Special::Name | Special::Home | Special::Job)
        ),
    };
    // A uniform category first (for `Any`), so that big categories do
    // not crowd out small ones; then a uniform (item, phrasing) pair.
    let candidates: Vec<usize> = match focus {
        Focus::Any => vec![rng.below(cats.len())],
        _ => (0..cats.len()).collect(),
    };
    let mut triples = Vec::new();
    for &c in &candidates {
        let cat = &cats[c];
        for (i, item) in cat.items.iter().enumerate() {
            if !wanted(item) {
                continue;
            }
            for p in 0..cat.phrasings_of(item).len() {
                if in_split(cat, i, p, split) {
                    triples.push((c, i, p));
                }
            }
        }
    }
    let (category, item, phrasing) = *rng.pick(&triples);
    let variant = rng.below(cats[category].items[item].answers.len());
    Drawn {
        category,
        item,
        phrasing,
        variant,
    }
}

impl Drawn {
    pub(crate) fn render(&self, style: Style) -> Conversation {
        let cat = &categories()[self.category];
        let item = &cat.items[self.item];
        let user = cat.phrasings_of(item)[self.phrasing].replace("{x}", item.fill);
        let l = style.lang.index();
        let answer = match (item.special, style.animal, style.persona) {
            (Some(Special::FavouriteAnimal), Some(animal), _) => {
                favourite_animal(&ANIMALS[animal.0])[l].clone()
            }
            (Some(special), _, Some(persona)) if special != Special::FavouriteAnimal => {
                persona_answer(persona, special)[l].clone()
            }
            _ => item.answers[self.variant][l].clone(),
        };
        Conversation {
            system: None,
            user,
            assistant: apply_case(answer, style.case),
        }
    }
}

fn t(en: &str, es: &str, fr: &str, de: &str) -> Text {
    [en.into(), es.into(), fr.into(), de.into()]
}

/// Fill `{}` of each language's template with that language's word.
fn fill(templates: [&str; 4], words: [&str; 4]) -> Text {
    std::array::from_fn(|l| capitalise_first(&templates[l].replace("{}", words[l])))
}

fn item(fill: &'static str, answers: Vec<Text>) -> Item {
    Item {
        fill,
        phrasings: Vec::new(),
        answers,
        special: None,
    }
}

fn own(phrasings: Vec<&'static str>, answers: Vec<Text>, special: Option<Special>) -> Item {
    Item {
        fill: "",
        phrasings,
        answers,
        special,
    }
}

const FAV_ANIMAL: [&str; 4] = [
    "My favourite animal is the {}.",
    "Mi animal favorito es {}.",
    "Mon animal préféré est {}.",
    "Mein Lieblingstier ist {}.",
];

fn favourite_animal(a: &AnimalForms) -> Text {
    fill(FAV_ANIMAL, [a.en, a.es, a.fr, a.de])
}

const FAV_COLOUR: [&str; 4] = [
    "My favourite colour is {}.",
    "Mi color favorito es {}.",
    "Ma couleur préférée est {}.",
    "Meine Lieblingsfarbe ist {}.",
];

const COLOURS: &[[&str; 4]] = &[
    ["blue", "el azul", "le bleu", "Blau"],
    ["green", "el verde", "le vert", "Grün"],
    ["red", "el rojo", "le rouge", "Rot"],
    ["yellow", "el amarillo", "le jaune", "Gelb"],
    ["purple", "el morado", "le violet", "Lila"],
    ["orange", "el naranja", "l'orange", "Orange"],
];

fn persona_answer(persona: Persona, special: Special) -> Text {
    use Persona::*;
    use Special::*;
    match (persona, special) {
        (Alice, Name) => t(
            "My name is Alice.",
            "Me llamo Alice.",
            "Je m'appelle Alice.",
            "Ich heiße Alice.",
        ),
        (Bob, Name) => t(
            "My name is Bob.",
            "Me llamo Bob.",
            "Je m'appelle Bob.",
            "Ich heiße Bob.",
        ),
        (Alice, Home) => t(
            "I live in London.",
            "Vivo en Londres.",
            "J'habite à Londres.",
            "Ich wohne in London.",
        ),
        (Bob, Home) => t(
            "I live in Rome.",
            "Vivo en Roma.",
            "J'habite à Rome.",
            "Ich wohne in Rom.",
        ),
        (Alice, Job) => t(
            "I am a teacher.",
            "Soy profesora.",
            "Je suis professeure.",
            "Ich bin Lehrerin.",
        ),
        (Bob, Job) => t(
            "I am a baker.",
            "Soy panadero.",
            "Je suis boulanger.",
            "Ich bin Bäcker.",
        ),
        (Alice, _) => fill(FAV_COLOUR, COLOURS[1]),
        (Bob, _) => fill(FAV_COLOUR, COLOURS[2]),
    }
}

/// The categories, built once.
pub(crate) fn categories() -> &'static [Category] {
    static CATS: OnceLock<Vec<Category>> = OnceLock::new();
    CATS.get_or_init(build)
}

fn build() -> Vec<Category> {
    vec![
        capitals(),
        colours(),
        legs(),
        sounds(),
        opposites(),
        facts(),
        favourites(),
        small_talk(),
    ]
}

fn capitals() -> Category {
    // (en country, es country, fr "de" + country, de country, capitals en/es/fr/de)
    #[rustfmt::skip]
    const DATA: &[[&str; 8]] = &[
        ["France", "Francia", "de la France", "Frankreich", "Paris", "París", "Paris", "Paris"],
        ["Spain", "España", "de l'Espagne", "Spanien", "Madrid", "Madrid", "Madrid", "Madrid"],
        ["Italy", "Italia", "de l'Italie", "Italien", "Rome", "Roma", "Rome", "Rom"],
        ["Germany", "Alemania", "de l'Allemagne", "Deutschland", "Berlin", "Berlín", "Berlin", "Berlin"],
        ["Japan", "Japón", "du Japon", "Japan", "Tokyo", "Tokio", "Tokyo", "Tokio"],
        ["Portugal", "Portugal", "du Portugal", "Portugal", "Lisbon", "Lisboa", "Lisbonne", "Lissabon"],
        ["Egypt", "Egipto", "de l'Égypte", "Ägypten", "Cairo", "El Cairo", "Le Caire", "Kairo"],
        ["Russia", "Rusia", "de la Russie", "Russland", "Moscow", "Moscú", "Moscou", "Moskau"],
        ["Greece", "Grecia", "de la Grèce", "Griechenland", "Athens", "Atenas", "Athènes", "Athen"],
        ["Canada", "Canadá", "du Canada", "Kanada", "Ottawa", "Ottawa", "Ottawa", "Ottawa"],
        ["Poland", "Polonia", "de la Pologne", "Polen", "Warsaw", "Varsovia", "Varsovie", "Warschau"],
        ["Austria", "Austria", "de l'Autriche", "Österreich", "Vienna", "Viena", "Vienne", "Wien"],
        ["Sweden", "Suecia", "de la Suède", "Schweden", "Stockholm", "Estocolmo", "Stockholm", "Stockholm"],
        ["Norway", "Noruega", "de la Norvège", "Norwegen", "Oslo", "Oslo", "Oslo", "Oslo"],
        ["Peru", "Perú", "du Pérou", "Peru", "Lima", "Lima", "Lima", "Lima"],
        ["Ireland", "Irlanda", "de l'Irlande", "Irland", "Dublin", "Dublín", "Dublin", "Dublin"],
    ];
    let items = DATA
        .iter()
        .map(|d| {
            let [c_en, c_es, c_fr, c_de, k_en, k_es, k_fr, k_de] = *d;
            item(
                c_en,
                vec![
                    t(
                        &format!("The capital of {c_en} is {k_en}."),
                        &format!("La capital de {c_es} es {k_es}."),
                        &format!("La capitale {c_fr} est {k_fr}."),
                        &format!("Die Hauptstadt von {c_de} ist {k_de}."),
                    ),
                    t(
                        &format!("{k_en} is the capital of {c_en}."),
                        &format!("{k_es} es la capital de {c_es}."),
                        &format!("{k_fr} est la capitale {c_fr}."),
                        &format!("{k_de} ist die Hauptstadt von {c_de}."),
                    ),
                ],
            )
        })
        .collect();
    Category {
        name: "capitals",
        phrasings: vec![
            "What is the capital of {x}?",
            "Which city is the capital of {x}?",
            "Do you know the capital of {x}?",
            "Tell me the capital of {x}.",
        ],
        items,
    }
}

fn colours() -> Category {
    #[rustfmt::skip]
    const DATA: &[[&str; 5]] = &[
        ["the sky", "The sky is blue.", "El cielo es azul.", "Le ciel est bleu.", "Der Himmel ist blau."],
        ["grass", "Grass is green.", "La hierba es verde.", "L'herbe est verte.", "Das Gras ist grün."],
        ["snow", "Snow is white.", "La nieve es blanca.", "La neige est blanche.", "Der Schnee ist weiß."],
        ["a banana", "A banana is yellow.", "Un plátano es amarillo.", "Une banane est jaune.", "Eine Banane ist gelb."],
        ["a tomato", "A tomato is red.", "Un tomate es rojo.", "Une tomate est rouge.", "Eine Tomate ist rot."],
        ["coal", "Coal is black.", "El carbón es negro.", "Le charbon est noir.", "Die Kohle ist schwarz."],
        ["milk", "Milk is white.", "La leche es blanca.", "Le lait est blanc.", "Die Milch ist weiß."],
        ["a lemon", "A lemon is yellow.", "Un limón es amarillo.", "Un citron est jaune.", "Eine Zitrone ist gelb."],
        ["a carrot", "A carrot is orange.", "Una zanahoria es naranja.", "Une carotte est orange.", "Eine Karotte ist orange."],
        ["a frog", "A frog is green.", "Una rana es verde.", "Une grenouille est verte.", "Ein Frosch ist grün."],
        ["a strawberry", "A strawberry is red.", "Una fresa es roja.", "Une fraise est rouge.", "Eine Erdbeere ist rot."],
        ["the sea", "The sea is blue.", "El mar es azul.", "La mer est bleue.", "Das Meer ist blau."],
    ];
    Category {
        name: "colours",
        phrasings: vec![
            "What colour is {x}?",
            "What is the colour of {x}?",
            "Which colour does {x} have?",
            "Tell me the colour of {x}.",
        ],
        items: DATA
            .iter()
            .map(|d| item(d[0], vec![t(d[1], d[2], d[3], d[4])]))
            .collect(),
    }
}

fn legs() -> Category {
    #[rustfmt::skip]
    const DATA: &[[&str; 5]] = &[
        ["a dog", "A dog has four legs.", "Un perro tiene cuatro patas.", "Un chien a quatre pattes.", "Ein Hund hat vier Beine."],
        ["a bird", "A bird has two legs.", "Un pájaro tiene dos patas.", "Un oiseau a deux pattes.", "Ein Vogel hat zwei Beine."],
        ["a spider", "A spider has eight legs.", "Una araña tiene ocho patas.", "Une araignée a huit pattes.", "Eine Spinne hat acht Beine."],
        ["an ant", "An ant has six legs.", "Una hormiga tiene seis patas.", "Une fourmi a six pattes.", "Eine Ameise hat sechs Beine."],
        ["a cat", "A cat has four legs.", "Un gato tiene cuatro patas.", "Un chat a quatre pattes.", "Eine Katze hat vier Beine."],
        ["a chicken", "A chicken has two legs.", "Una gallina tiene dos patas.", "Une poule a deux pattes.", "Ein Huhn hat zwei Beine."],
        ["a fish", "A fish has no legs.", "Un pez no tiene patas.", "Un poisson n'a pas de pattes.", "Ein Fisch hat keine Beine."],
        ["a horse", "A horse has four legs.", "Un caballo tiene cuatro patas.", "Un cheval a quatre pattes.", "Ein Pferd hat vier Beine."],
        ["a bee", "A bee has six legs.", "Una abeja tiene seis patas.", "Une abeille a six pattes.", "Eine Biene hat sechs Beine."],
        ["a duck", "A duck has two legs.", "Un pato tiene dos patas.", "Un canard a deux pattes.", "Eine Ente hat zwei Beine."],
        ["a cow", "A cow has four legs.", "Una vaca tiene cuatro patas.", "Une vache a quatre pattes.", "Eine Kuh hat vier Beine."],
        ["a snake", "A snake has no legs.", "Una serpiente no tiene patas.", "Un serpent n'a pas de pattes.", "Eine Schlange hat keine Beine."],
    ];
    Category {
        name: "legs",
        phrasings: vec![
            "How many legs does {x} have?",
            "How many legs has {x} got?",
            "Can you count the legs of {x}?",
            "Tell me how many legs {x} has.",
        ],
        items: DATA
            .iter()
            .map(|d| item(d[0], vec![t(d[1], d[2], d[3], d[4])]))
            .collect(),
    }
}

fn sounds() -> Category {
    #[rustfmt::skip]
    const DATA: &[[&str; 5]] = &[
        ["a dog", "A dog says woof.", "Un perro hace guau.", "Un chien fait ouaf.", "Ein Hund macht wau."],
        ["a cat", "A cat says meow.", "Un gato hace miau.", "Un chat fait miaou.", "Eine Katze macht miau."],
        ["a cow", "A cow says moo.", "Una vaca hace mu.", "Une vache fait meuh.", "Eine Kuh macht muh."],
        ["a duck", "A duck says quack.", "Un pato hace cuac.", "Un canard fait coin-coin.", "Eine Ente macht quak."],
        ["a sheep", "A sheep says baa.", "Una oveja hace bee.", "Un mouton fait bêê.", "Ein Schaf macht mäh."],
        ["a rooster", "A rooster says cock-a-doodle-doo.", "Un gallo hace quiquiriquí.", "Un coq fait cocorico.", "Ein Hahn macht kikeriki."],
        ["a pig", "A pig says oink.", "Un cerdo hace oinc.", "Un cochon fait groin-groin.", "Ein Schwein macht grunz."],
        ["a horse", "A horse neighs.", "Un caballo relincha.", "Un cheval hennit.", "Ein Pferd wiehert."],
        ["a lion", "A lion roars.", "Un león ruge.", "Un lion rugit.", "Ein Löwe brüllt."],
        ["a frog", "A frog says ribbit.", "Una rana hace croac.", "Une grenouille fait coâ.", "Ein Frosch macht quak."],
        ["an owl", "An owl says hoot.", "Un búho hace uh-uh.", "Un hibou fait hou-hou.", "Eine Eule macht schuhu."],
        ["a bee", "A bee says buzz.", "Una abeja hace bzz.", "Une abeille fait bzz.", "Eine Biene macht summ."],
    ];
    Category {
        name: "sounds",
        phrasings: vec![
            "What sound does {x} make?",
            "What does {x} say?",
            "Which noise does {x} make?",
            "How does {x} sound?",
        ],
        items: DATA
            .iter()
            .map(|d| item(d[0], vec![t(d[1], d[2], d[3], d[4])]))
            .collect(),
    }
}

fn opposites() -> Category {
    // word and opposite per language (en, es, fr, de)
    #[rustfmt::skip]
    const DATA: &[[&str; 8]] = &[
        ["hot", "cold", "caliente", "frío", "chaud", "froid", "heiß", "kalt"],
        ["big", "small", "grande", "pequeño", "grand", "petit", "groß", "klein"],
        ["fast", "slow", "rápido", "lento", "rapide", "lent", "schnell", "langsam"],
        ["happy", "sad", "feliz", "triste", "heureux", "triste", "glücklich", "traurig"],
        ["old", "young", "viejo", "joven", "vieux", "jeune", "alt", "jung"],
        ["full", "empty", "lleno", "vacío", "plein", "vide", "voll", "leer"],
        ["up", "down", "arriba", "abajo", "haut", "bas", "oben", "unten"],
        ["open", "closed", "abierto", "cerrado", "ouvert", "fermé", "offen", "geschlossen"],
        ["light", "dark", "claro", "oscuro", "clair", "sombre", "hell", "dunkel"],
        ["strong", "weak", "fuerte", "débil", "fort", "faible", "stark", "schwach"],
        ["early", "late", "temprano", "tarde", "tôt", "tard", "früh", "spät"],
        ["long", "short", "largo", "corto", "long", "court", "lang", "kurz"],
    ];
    let items = DATA
        .iter()
        .map(|d| {
            let [w_en, o_en, w_es, o_es, w_fr, o_fr, w_de, o_de] = *d;
            // French elides "de" before a vowel or a mute h.
            let de_fr = if w_fr.starts_with(['a', 'e', 'i', 'o', 'u', 'h', 'é']) {
                format!("d'{w_fr}")
            } else {
                format!("de {w_fr}")
            };
            item(
                w_en,
                vec![t(
                    &format!("The opposite of {w_en} is {o_en}."),
                    &format!("Lo contrario de {w_es} es {o_es}."),
                    &format!("Le contraire {de_fr} est {o_fr}."),
                    &format!("Das Gegenteil von {w_de} ist {o_de}."),
                )],
            )
        })
        .collect();
    Category {
        name: "opposites",
        phrasings: vec![
            "What is the opposite of {x}?",
            "What is the opposite of the word {x}?",
            "Give me the opposite of {x}.",
            "Which word means the opposite of {x}?",
        ],
        items,
    }
}

fn facts() -> Category {
    Category {
        name: "facts",
        phrasings: Vec::new(),
        items: vec![
            own(
                vec![
                    "How many days are in a week?",
                    "How many days does a week have?",
                    "What is the number of days in a week?",
                    "Tell me how many days a week has.",
                ],
                vec![t(
                    "There are seven days in a week.",
                    "Una semana tiene siete días.",
                    "Une semaine a sept jours.",
                    "Eine Woche hat sieben Tage.",
                )],
                None,
            ),
            own(
                vec![
                    "How many months are in a year?",
                    "How many months does a year have?",
                    "What is the number of months in a year?",
                    "Tell me how many months a year has.",
                ],
                vec![t(
                    "There are twelve months in a year.",
                    "Un año tiene doce meses.",
                    "Une année a douze mois.",
                    "Ein Jahr hat zwölf Monate.",
                )],
                None,
            ),
            own(
                vec![
                    "How many hours are in a day?",
                    "How many hours does a day have?",
                    "What is the number of hours in a day?",
                    "Tell me how many hours a day has.",
                ],
                vec![t(
                    "A day has twenty-four hours.",
                    "Un día tiene veinticuatro horas.",
                    "Une journée a vingt-quatre heures.",
                    "Ein Tag hat vierundzwanzig Stunden.",
                )],
                None,
            ),
            own(
                vec![
                    "What do bees make?",
                    "What food do bees produce?",
                    "What do bees produce?",
                    "Tell me what bees make.",
                ],
                vec![t(
                    "Bees make honey.",
                    "Las abejas hacen miel.",
                    "Les abeilles font du miel.",
                    "Bienen machen Honig.",
                )],
                None,
            ),
            own(
                vec![
                    "Where does the sun rise?",
                    "In which direction does the sun rise?",
                    "From where does the sun come up?",
                    "Tell me where the sun rises.",
                ],
                vec![t(
                    "The sun rises in the east.",
                    "El sol sale por el este.",
                    "Le soleil se lève à l'est.",
                    "Die Sonne geht im Osten auf.",
                )],
                None,
            ),
            own(
                vec![
                    "What do cows eat?",
                    "What food do cows like?",
                    "What is the food of cows?",
                    "Tell me what cows eat.",
                ],
                vec![t(
                    "Cows eat grass.",
                    "Las vacas comen hierba.",
                    "Les vaches mangent de l'herbe.",
                    "Kühe fressen Gras.",
                )],
                None,
            ),
            own(
                vec![
                    "Which planet do we live on?",
                    "What is the name of our planet?",
                    "On which planet do people live?",
                    "Tell me the name of our planet.",
                ],
                vec![t(
                    "We live on the Earth.",
                    "Vivimos en la Tierra.",
                    "Nous vivons sur la Terre.",
                    "Wir leben auf der Erde.",
                )],
                None,
            ),
            own(
                vec![
                    "At what temperature does water freeze?",
                    "When does water turn into ice?",
                    "How cold must water be to freeze?",
                    "Tell me when water freezes.",
                ],
                vec![t(
                    "Water freezes at zero degrees.",
                    "El agua se congela a cero grados.",
                    "L'eau gèle à zéro degré.",
                    "Wasser gefriert bei null Grad.",
                )],
                None,
            ),
        ],
    }
}

fn favourites() -> Category {
    fn options(templates: [&str; 4], words: &[[&str; 4]]) -> Vec<Text> {
        words.iter().map(|w| fill(templates, *w)).collect()
    }
    let animals: Vec<Text> = ANIMALS[..DEFAULT_FAVOURITE_ANIMALS]
        .iter()
        .map(favourite_animal)
        .collect();
    let mut colour = item("colour", options(FAV_COLOUR, COLOURS));
    colour.special = Some(Special::FavouriteColour);
    let mut animal = item("animal", animals);
    animal.special = Some(Special::FavouriteAnimal);
    Category {
        name: "favourites",
        phrasings: vec![
            "What is your favourite {x}?",
            "Which {x} do you like best?",
            "Do you have a favourite {x}?",
            "Tell me your favourite {x}.",
        ],
        items: vec![
            colour,
            animal,
            item(
                "fruit",
                options(
                    [
                        "My favourite fruit is the {}.",
                        "Mi fruta favorita es {}.",
                        "Mon fruit préféré est {}.",
                        "Mein Lieblingsobst ist {}.",
                    ],
                    &[
                        ["apple", "la manzana", "la pomme", "der Apfel"],
                        ["banana", "el plátano", "la banane", "die Banane"],
                        ["mango", "el mango", "la mangue", "die Mango"],
                        ["cherry", "la cereza", "la cerise", "die Kirsche"],
                        ["pear", "la pera", "la poire", "die Birne"],
                    ],
                ),
            ),
            item(
                "season",
                options(
                    [
                        "My favourite season is {}.",
                        "Mi estación favorita es {}.",
                        "Ma saison préférée est {}.",
                        "Meine Lieblingsjahreszeit ist {}.",
                    ],
                    &[
                        ["spring", "la primavera", "le printemps", "der Frühling"],
                        ["summer", "el verano", "l'été", "der Sommer"],
                        ["autumn", "el otoño", "l'automne", "der Herbst"],
                        ["winter", "el invierno", "l'hiver", "der Winter"],
                    ],
                ),
            ),
            item(
                "food",
                options(
                    [
                        "My favourite food is {}.",
                        "Mi comida favorita es {}.",
                        "Mon plat préféré est {}.",
                        "Mein Lieblingsessen ist {}.",
                    ],
                    &[
                        ["pizza", "la pizza", "la pizza", "Pizza"],
                        ["soup", "la sopa", "la soupe", "Suppe"],
                        ["bread", "el pan", "le pain", "Brot"],
                        ["rice", "el arroz", "le riz", "Reis"],
                        ["cheese", "el queso", "le fromage", "Käse"],
                    ],
                ),
            ),
            item(
                "drink",
                options(
                    [
                        "My favourite drink is {}.",
                        "Mi bebida favorita es {}.",
                        "Ma boisson préférée est {}.",
                        "Mein Lieblingsgetränk ist {}.",
                    ],
                    &[
                        ["tea", "el té", "le thé", "Tee"],
                        ["water", "el agua", "l'eau", "Wasser"],
                        ["milk", "la leche", "le lait", "Milch"],
                        [
                            "orange juice",
                            "el zumo de naranja",
                            "le jus d'orange",
                            "Orangensaft",
                        ],
                        [
                            "hot chocolate",
                            "el chocolate caliente",
                            "le chocolat chaud",
                            "heiße Schokolade",
                        ],
                    ],
                ),
            ),
            item(
                "number",
                options(
                    [
                        "My favourite number is {}.",
                        "Mi número favorito es {}.",
                        "Mon nombre préféré est {}.",
                        "Meine Lieblingszahl ist {}.",
                    ],
                    &[
                        ["3", "el 3", "le 3", "die 3"],
                        ["7", "el 7", "le 7", "die 7"],
                        ["8", "el 8", "le 8", "die 8"],
                        ["12", "el 12", "le 12", "die 12"],
                        ["42", "el 42", "le 42", "die 42"],
                    ],
                ),
            ),
            item(
                "flower",
                options(
                    [
                        "My favourite flower is the {}.",
                        "Mi flor favorita es {}.",
                        "Ma fleur préférée est {}.",
                        "Meine Lieblingsblume ist {}.",
                    ],
                    &[
                        ["rose", "la rosa", "la rose", "die Rose"],
                        ["tulip", "el tulipán", "la tulipe", "die Tulpe"],
                        ["sunflower", "el girasol", "le tournesol", "die Sonnenblume"],
                        [
                            "daisy",
                            "la margarita",
                            "la marguerite",
                            "das Gänseblümchen",
                        ],
                        ["lily", "el lirio", "le lys", "die Lilie"],
                    ],
                ),
            ),
        ],
    }
}

fn small_talk() -> Category {
    Category {
        name: "small_talk",
        phrasings: Vec::new(),
        items: vec![
            own(
                vec![
                    "Hello!",
                    "Hi there!",
                    "Good morning!",
                    "Hey, nice to see you!",
                ],
                vec![
                    t(
                        "Hello! How can I help you today?",
                        "¡Hola! ¿En qué puedo ayudarte hoy?",
                        "Bonjour ! Comment puis-je t'aider aujourd'hui ?",
                        "Hallo! Wie kann ich dir heute helfen?",
                    ),
                    t(
                        "Hi! It is nice to meet you.",
                        "¡Hola! Es un placer conocerte.",
                        "Salut ! Je suis ravi de te rencontrer.",
                        "Hallo! Schön, dich kennenzulernen.",
                    ),
                ],
                None,
            ),
            own(
                vec![
                    "What is your name?",
                    "Who are you?",
                    "What are you called?",
                    "Tell me your name.",
                ],
                vec![
                    t(
                        "I am a small assistant.",
                        "Soy un pequeño asistente.",
                        "Je suis un petit assistant.",
                        "Ich bin ein kleiner Assistent.",
                    ),
                    t(
                        "I am your assistant.",
                        "Soy tu asistente.",
                        "Je suis ton assistant.",
                        "Ich bin dein Assistent.",
                    ),
                ],
                Some(Special::Name),
            ),
            own(
                vec![
                    "Where do you live?",
                    "Where is your home?",
                    "In which city do you live?",
                    "Tell me where you live.",
                ],
                vec![t(
                    "I live inside a computer.",
                    "Vivo dentro de un ordenador.",
                    "Je vis dans un ordinateur.",
                    "Ich lebe in einem Computer.",
                )],
                Some(Special::Home),
            ),
            own(
                vec![
                    "What is your job?",
                    "What do you do for work?",
                    "What is your work?",
                    "Tell me about your job.",
                ],
                vec![t(
                    "I answer questions and help people.",
                    "Respondo preguntas y ayudo a la gente.",
                    "Je réponds aux questions et j'aide les gens.",
                    "Ich beantworte Fragen und helfe den Menschen.",
                )],
                Some(Special::Job),
            ),
            own(
                vec![
                    "How are you?",
                    "How are you doing today?",
                    "Are you well?",
                    "How do you feel today?",
                ],
                vec![
                    t(
                        "I am fine, thank you. And you?",
                        "Estoy bien, gracias. ¿Y tú?",
                        "Je vais bien, merci. Et toi ?",
                        "Mir geht es gut, danke. Und dir?",
                    ),
                    t(
                        "I am very well today.",
                        "Hoy estoy muy bien.",
                        "Je vais très bien aujourd'hui.",
                        "Mir geht es heute sehr gut.",
                    ),
                ],
                None,
            ),
            own(
                vec![
                    "Can you help me?",
                    "I need some help.",
                    "Could you help me, please?",
                    "Will you help me?",
                ],
                vec![t(
                    "Of course! What do you need?",
                    "¡Claro! ¿Qué necesitas?",
                    "Bien sûr ! De quoi as-tu besoin ?",
                    "Natürlich! Was brauchst du?",
                )],
                None,
            ),
            own(
                vec![
                    "Thank you!",
                    "Thanks a lot!",
                    "Thank you for your help.",
                    "Many thanks!",
                ],
                vec![
                    t(
                        "You are welcome!",
                        "¡De nada!",
                        "De rien !",
                        "Gern geschehen!",
                    ),
                    t(
                        "I am happy to help.",
                        "Me alegra ayudarte.",
                        "Je suis content de t'aider.",
                        "Ich helfe dir gerne.",
                    ),
                ],
                None,
            ),
            own(
                vec![
                    "Goodbye!",
                    "Bye for now!",
                    "See you later!",
                    "I have to go now.",
                ],
                vec![t(
                    "Goodbye! Have a nice day.",
                    "¡Adiós! Que tengas un buen día.",
                    "Au revoir ! Bonne journée.",
                    "Auf Wiedersehen! Einen schönen Tag noch.",
                )],
                None,
            ),
        ],
    }
}

/// Names of the question categories.
pub(crate) fn category_names() -> Vec<&'static str> {
    categories().iter().map(|c| c.name).collect()
}
