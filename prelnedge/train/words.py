"""Word lists for the generated training data (written for this project; no third-party data).

Kept plain and varied so the model meets the same kinds of words in hand-written questions:
people, places, objects, dated events, quantities, and sentiment words with their polarity.
"""

FIRST_NAMES = """
Anna Marta Clara Elena Sofia Laura Julia Nora Ida Helen Grace Alice Emma Olivia Mia Lucy Ruth Sarah
Hannah Rosa Amara Chiara Ingrid Astrid Freya Leila Yasmin Priya Aisha Mei Yuki Keiko Hana Nadia Olga
Irina Vera Agnes Beatrice Edith Mabel Iris Daisy Esther Naomi Zara Fatima Amina Noor Lina Carmen
John Peter Thomas James William Henry George Arthur Samuel Daniel David Michael Robert Edward Oliver
Jack Harry Leo Oscar Felix Hugo Lars Erik Nils Sven Jonas Lukas Marco Luca Paolo Diego Carlos Pablo
Mateo Omar Yusuf Ali Hassan Karim Ravi Arjun Vikram Kenji Hiroshi Takeshi Wei Chen Jin Ivan Dmitri
Pavel Tomas Jakub Stefan Andrei Kofi Kwame Tunde Emeka Samir Elias Simon Adam Victor Martin Bruno
""".split()

# The first names above "John" are women's names, the rest men's: "Anna ... She worked", not "He".
# An invented first name (not in the list) is a woman's when it ends in a vowel, a man's otherwise.
def pronoun(first_name: str) -> str:
    if first_name not in FIRST_NAMES:
        return "She" if first_name[-1] in "aeiou" else "He"
    return "She" if FIRST_NAMES.index(first_name) < FIRST_NAMES.index("John") else "He"


SURNAMES = """
Smith Jones Brown Taylor Wilson Evans Thomas Roberts Walker Wright Hughes Green Hall Wood Clarke
Turner Baker Hill Moore Ward Harris Cooper King Lee Martin Morgan Bell Carter Fisher Mason Price
Oyelaran Okafor Mensah Adeyemi Diallo Haddad Nasser Rahman Khan Patel Sharma Gupta Iyer Nair
Tanaka Suzuki Sato Watanabe Kim Park Wang Zhang Liu Nguyen Tran Kowalski Nowak Novak Horvat Petrov
Ivanova Sokolov Larsen Hansen Nielsen Berg Lindqvist Johansson Virtanen Muller Schmidt Weber Wagner
Becker Fischer Rossi Russo Bianchi Romano Ferrari Garcia Martinez Lopez Gonzalez Fernandez Silva
Santos Costa Pereira Moreau Dubois Laurent Lefevre Rousseau Fontaine Duval Janssen Peeters Visser
""".split()

# Invented and real place names (one or two words).
_PLACE_TEXT = """
Millbrook|Harwick|Ashby|Kestrel Point|Dunmore|Elmstead|Fairhaven|Glenrock|Hollowell|Ivybridge|
Larkfield|Marlow|Northwick|Oakham|Pembury|Queensbury|Redcliff|Stonehaven|Thornbury|Westerley|
Alderney|Brackley|Castlebay|Dovercourt|Easthaven|Foxley|Greywater|Hartfield|Kingsmere|Lowmoor|
Paris|London|Lisbon|Madrid|Vienna|Prague|Oslo|Bergen|Helsinki|Dublin|Cork|Porto|Seville|Naples|
Geneva|Zurich|Munich|Hamburg|Krakow|Riga|Tallinn|Athens|Cairo|Nairobi|Lagos|Accra|Mumbai|Delhi|
Kyoto|Osaka|Seoul|Busan|Hanoi|Manila|Sydney|Auckland|Toronto|Montreal|Boston|Denver|Chicago|Quebec|
Lima|Quito|Bogota|Santiago|Havana|Tunis|Marrakesh|Istanbul|Tbilisi|Yerevan|Almaty|Tashkent|
New Harbour|Port Ellen|Saint Ives|Glen Arden|Lake Morrow|Upper Lindon|Rosedale|Bramwell|Coldwater
"""
PLACES = [p.strip() for p in _PLACE_TEXT.replace("\n", "").split("|") if p.strip()]

# Invented names from syllables: hand-written text names people and towns no list holds ("Ada Clark",
# "Brighton"), split by the tokenizer into pieces; a model that only met listed names learns the list,
# not where a name stands in a sentence.
SYLLABLES = """
ar bel bran cal dor el fen gar hal is jor kel lan mer nor ol pen quin ros sel tor ul ven wil yar zen ash
bro cre dun fal gle hav ith kir lo mon ne or pa ri sa tha um vi wen ad ca li da ber sto mil ro bi tan
""".split()
PLACE_ENDINGS = ["ton", "ford", "by", "ham", "wick", "field", "mouth", "bury", "stead", "more", "dale", "port",
                 "ley", "worth", "", "", ""]
PLACE_WORDS = ["Port", "Upper", "New", "North", "Saint", "Lake"]


def invented_word(rng, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def invented_first_name(rng) -> str:
    return invented_word(rng, rng.choice([1, 2, 2, 3]))


def invented_surname(rng) -> str:
    return invented_word(rng, rng.choice([2, 2, 3]))


def invented_place(rng) -> str:
    name = invented_word(rng, rng.choice([1, 2, 2])) + rng.choice(PLACE_ENDINGS)
    if rng.random() < 0.15:
        name = f"{rng.choice(PLACE_WORDS)} {name}"
    return name

# Things with a history: (noun, plausible adjectives).
OBJECTS = {
    "lamp": "old brass oil great", "bridge": "stone iron wooden old long", "lighthouse": "white tall old",
    "tower": "clock stone bell tall", "mill": "paper water old wind", "library": "public old new city",
    "station": "railway old central", "church": "small stone old", "school": "village old new",
    "museum": "town small maritime", "market": "covered old fish", "canal": "narrow old long",
    "dam": "concrete large", "theatre": "royal old small", "hospital": "new city general",
    "harbour": "small old fishing", "castle": "ruined old", "fountain": "marble stone",
    "statue": "bronze marble", "clock": "town great", "ship": "sailing steam old", "ferry": "car night",
    "tram": "electric old", "road": "coast mountain old", "tunnel": "railway long", "garden": "botanic walled",
    "observatory": "mountain old", "factory": "brick glass", "bakery": "village small", "hotel": "grand old",
    "cathedral": "great gothic", "palace": "summer royal", "farm": "dairy old", "well": "village stone",
    "gate": "north iron", "wall": "city stone", "pier": "iron long", "airport": "small regional",
    "stadium": "football new", "park": "city deer", "organ": "church great", "bell": "bronze great",
    "telescope": "large old", "printing press": "old iron", "windmill": "old white", "barn": "red old",
    "inn": "old coaching", "chapel": "small stone", "aqueduct": "roman stone", "university": "old city",
}

# Dated events: past participles that read well in "The X was V in 1887".
EVENTS = """
built opened closed electrified repaired painted restored sold moved founded designed rebuilt extended
damaged flooded renamed completed launched finished bought demolished renovated modernised lit abandoned
replaced enlarged visited photographed connected widened cleaned dedicated discovered excavated reopened
rebuilt insured fuelled decorated automated converted abandoned surveyed mapped finished burned measured
""".split()
EVENTS = list(dict.fromkeys(EVENTS))

# Agents for "The X was V by NAME" / "NAME Ved the X": (participle, past tense, noun for the person).
AGENT_VERBS = [
    ("built", "built", "builder"), ("designed", "designed", "designer"), ("painted", "painted", "painter"),
    ("founded", "founded", "founder"), ("restored", "restored", "restorer"), ("kept", "kept", "keeper"),
    ("owned", "owned", "owner"), ("repaired", "repaired", "mechanic"), ("discovered", "discovered", "discoverer"),
    ("bought", "bought", "buyer"), ("sold", "sold", "seller"), ("photographed", "photographed", "photographer"),
    ("run", "ran", "manager"), ("planned", "planned", "planner"), ("measured", "measured", "surveyor"),
    ("opened", "opened", "mayor"), ("cleaned", "cleaned", "cleaner"), ("guarded", "guarded", "guard"),
]

# Role nouns that say their verb (builder: built); "mayor" (opened) or "guard" (guarded) do not, so a
# question names them only where the text does ("Its mayor, Anna Smith, ...").
AGENT_NOUNS = {"builder", "designer", "painter", "founder", "restorer", "keeper", "owner", "discoverer", "buyer",
               "seller", "photographer", "planner", "cleaner"}

MONTHS = "January February March April May June July August September October November December".split()

# Quantities: (question word phrase, unit list, "is N unit ADJ" adjective, verb phrase form).
MEASURES = [
    ("How long is", ["metres", "kilometres", "miles", "feet"], "long"),
    ("How tall is", ["metres", "feet"], "tall"),
    ("How high is", ["metres", "feet"], "high"),
    ("How wide is", ["metres", "feet"], "wide"),
    ("How deep is", ["metres", "feet"], "deep"),
    ("How heavy is", ["tonnes", "kilograms", "pounds"], "heavy"),
    ("How old is", ["years"], "old"),
]
COUNTABLE = ["steps", "windows", "rooms", "bells", "doors", "seats", "lamps", "arches", "columns", "beds",
             "books", "paintings", "boats", "trees", "workers", "visitors", "pupils", "horses", "towers"]

NUMBER_WORDS = "two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred".split()

# Sentiment (polarity in the lexicon; negation flips it; "but" makes the second clause decide).
POSITIVE = """
good great fine excellent wonderful lovely pleasant delightful superb brilliant charming enjoyable
friendly helpful beautiful perfect fantastic nice warm tasty fresh clean comfortable amazing happy
impressive generous reliable fun cheerful elegant gorgeous satisfying marvellous splendid outstanding
""".split()
NEGATIVE = """
bad poor awful terrible horrible dull boring rude slow dirty cold bland stale noisy uncomfortable
disappointing unpleasant broken expensive ugly sad annoying useless weak messy painful dreadful
mediocre gloomy tedious clumsy unhelpful unreliable miserable nasty tiresome
""".split()
REVIEW_NOUNS = """
film movie book meal food service hotel room staff day trip concert show play song album game
weather coffee tea soup bread cake view hike walk holiday lesson class teacher story ending visit
garden museum train journey shop bakery market guide tour music performance dinner lunch breakfast
""".split()
INTENSIFIERS = ["very", "really", "quite", "truly", "so", "rather", "extremely", "incredibly", "", "", ""]
POSITIVE_VERBS = ["loved", "enjoyed", "liked", "adored", "admired", "recommend"]
NEGATIVE_VERBS = ["hated", "disliked", "regretted", "loathed", "could not stand", "avoid"]

# Multiple choice: a prompt and its plausible continuation; distractors are other prompts' answers.
ASSOCIATIONS = [
    ("Bees carry", "pollen from flower to flower"), ("Cows give", "milk every morning"),
    ("Birds build", "nests in the trees"), ("Fish swim", "in rivers and seas"),
    ("Farmers grow", "wheat in their fields"), ("Bakers make", "bread in the oven"),
    ("Doctors treat", "sick patients"), ("Teachers help", "pupils learn to read"),
    ("Pilots fly", "planes across the sky"), ("Sailors steer", "ships across the sea"),
    ("Rain falls", "from grey clouds"), ("The sun rises", "in the east"),
    ("Ice melts", "when it gets warm"), ("Water boils", "when it is heated"),
    ("Trees lose", "their leaves in autumn"), ("Children play", "games in the park"),
    ("A key opens", "a locked door"), ("A knife cuts", "bread and cheese"),
    ("Cats chase", "mice in the barn"), ("Dogs bark", "at strangers"),
    ("Readers borrow", "books from the library"), ("Trains run", "on steel rails"),
    ("Plants need", "light and water"), ("Cooks stir", "soup in a pot"),
    ("Miners dig", "coal under the ground"), ("Painters use", "brushes and paint"),
    ("Owls hunt", "at night"), ("Snow covers", "the hills in winter"),
    ("A lamp gives", "light in the dark"), ("A clock shows", "the time of day"),
    ("Writers write", "stories and poems"), ("Singers sing", "songs on the stage"),
    ("Gardeners water", "the flowers"), ("Builders lay", "bricks for a wall"),
    ("Horses pull", "carts along the road"), ("Ships carry", "cargo between ports"),
    ("Students study", "for their exams"), ("Nurses care", "for patients in hospital"),
    ("Umbrellas keep", "people dry in the rain"), ("Boots keep", "feet warm and dry"),
]
# Other prompts' continuations that are true of a prompt as well: never its distractors.
ALSO_TRUE = {("Owls hunt", "mice in the barn"), ("Dogs bark", "at night"), ("Cats chase", "at night"),
             ("Horses pull", "cargo between ports"), ("Ships carry", "carts along the road"),
             ("Plants need", "the flowers"), ("Gardeners water", "light and water"),
             ("Ice melts", "when it is heated"), ("Water boils", "when it gets warm"),
             ("Students study", "pupils learn to read"),
             ("Teachers help", "for patients in hospital"), ("Nurses care", "sick patients"),
             ("Doctors treat", "for patients in hospital"), ("Boots keep", "people dry in the rain"),
             ("Umbrellas keep", "feet warm and dry"), ("Snow covers", "their leaves in autumn")}
