"""Vocabulary of the sample gallery: names, surnames, cities, captions (generator only).

The kin engine never imports this module: its caption lexicon and surname rules are written
independently (``nextofkin.kin.cues``, ``nextofkin.kin.surnames``), so that an evaluation on a
generated gallery does not just read back the generator's own word lists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FirstName:
    """A first name in Ukrainian and Russian spelling, with a common diminutive of each."""

    gender: str  # "m" or "f"
    uk: str
    ru: str
    uk_short: str
    ru_short: str


FIRST_NAMES: tuple[FirstName, ...] = tuple(
    FirstName(g, uk, ru, uks, rus)
    for g, uk, ru, uks, rus in (
        ("m", "Олександр", "Александр", "Сашко", "Саша"),
        ("m", "Андрій", "Андрей", "Андрійко", "Андрюша"),
        ("m", "Сергій", "Сергей", "Сергійко", "Серёжа"),
        ("m", "Дмитро", "Дмитрий", "Дімка", "Дима"),
        ("m", "Микола", "Николай", "Коля", "Коля"),
        ("m", "Іван", "Иван", "Івасик", "Ваня"),
        ("m", "Володимир", "Владимир", "Вова", "Вова"),
        ("m", "Олег", "Олег", "Олежко", "Олежка"),
        ("m", "Юрій", "Юрий", "Юрко", "Юра"),
        ("m", "Василь", "Василий", "Вася", "Вася"),
        ("m", "Петро", "Пётр", "Петрик", "Петя"),
        ("m", "Михайло", "Михаил", "Михась", "Миша"),
        ("m", "Віктор", "Виктор", "Вітя", "Витя"),
        ("m", "Тарас", "Тарас", "Тарасик", "Тарас"),
        ("m", "Богдан", "Богдан", "Бодя", "Богдан"),
        ("m", "Максим", "Максим", "Макс", "Макс"),
        ("m", "Артем", "Артём", "Тема", "Тёма"),
        ("m", "Денис", "Денис", "Дениско", "Денис"),
        ("m", "Павло", "Павел", "Павлик", "Паша"),
        ("m", "Ігор", "Игорь", "Ігорко", "Игорёк"),
        ("m", "Роман", "Роман", "Ромко", "Рома"),
        ("m", "Євген", "Евгений", "Женя", "Женя"),
        ("m", "Анатолій", "Анатолий", "Толя", "Толя"),
        ("m", "Степан", "Степан", "Стьопа", "Стёпа"),
        ("m", "Віталій", "Виталий", "Віталік", "Виталик"),
        ("m", "Ярослав", "Ярослав", "Ярко", "Слава"),
        ("f", "Олена", "Елена", "Оленка", "Лена"),
        ("f", "Ірина", "Ирина", "Іра", "Ира"),
        ("f", "Наталія", "Наталья", "Наталка", "Наташа"),
        ("f", "Тетяна", "Татьяна", "Таня", "Таня"),
        ("f", "Світлана", "Светлана", "Світланка", "Света"),
        ("f", "Оксана", "Оксана", "Ксеня", "Ксюша"),
        ("f", "Юлія", "Юлия", "Юля", "Юля"),
        ("f", "Катерина", "Екатерина", "Катруся", "Катя"),
        ("f", "Марія", "Мария", "Марічка", "Маша"),
        ("f", "Анна", "Анна", "Ганнуся", "Аня"),
        ("f", "Ольга", "Ольга", "Оля", "Оля"),
        ("f", "Галина", "Галина", "Галя", "Галя"),
        ("f", "Людмила", "Людмила", "Люда", "Люда"),
        ("f", "Вікторія", "Виктория", "Віка", "Вика"),
        ("f", "Дарія", "Дарья", "Даринка", "Даша"),
        ("f", "Софія", "София", "Софійка", "Соня"),
        ("f", "Анастасія", "Анастасия", "Настя", "Настя"),
        ("f", "Христина", "Кристина", "Христя", "Кристина"),
        ("f", "Валентина", "Валентина", "Валя", "Валя"),
        ("f", "Лариса", "Лариса", "Лара", "Лара"),
        ("f", "Надія", "Надежда", "Надя", "Надя"),
        ("f", "Людмила", "Людмила", "Люся", "Люся"),
    )
)


@dataclass(frozen=True)
class Surname:
    """A surname: masculine forms in Ukrainian and Russian spelling, its declension type, weight.

    Types: ``ov`` (-ов/-ев/-ін: feminine adds -а), ``sky`` (-ський/-ский: feminine -ська/-ская),
    ``inv`` (invariant: -енко, -чук, -ук, -ник, …). Weights make common names (Shevchenko,
    Ivanov) collide between unrelated families, as they do in life.
    """

    uk: str
    ru: str
    kind: str
    weight: float

    def form(self, gender: str, lang: str) -> str:
        """The Cyrillic surname for a person of ``gender`` writing in ``lang`` (uk/ru)."""
        base = self.uk if lang == "uk" else self.ru
        if gender == "m" or self.kind == "inv":
            return base
        if self.kind == "ov":
            return base + "а"
        # -ський -> -ська (uk), -ский -> -ская (ru); -цкий -> -цкая likewise
        return base[:-2] + ("а" if lang == "uk" else "ая")


SURNAMES: tuple[Surname, ...] = tuple(
    Surname(uk, ru, kind, w)
    for uk, ru, kind, w in (
        ("Іванов", "Иванов", "ov", 5),
        ("Петров", "Петров", "ov", 4),
        ("Смирнов", "Смирнов", "ov", 3),
        ("Кузнєцов", "Кузнецов", "ov", 3),
        ("Попов", "Попов", "ov", 3),
        ("Соколов", "Соколов", "ov", 2),
        ("Волков", "Волков", "ov", 2),
        ("Морозов", "Морозов", "ov", 2),
        ("Новіков", "Новиков", "ov", 2),
        ("Лебедєв", "Лебедев", "ov", 2),
        ("Васильєв", "Васильев", "ov", 2),
        ("Ковальов", "Ковалёв", "ov", 2),
        ("Павлов", "Павлов", "ov", 2),
        ("Зайцев", "Зайцев", "ov", 2),
        ("Соловйов", "Соловьёв", "ov", 1),
        ("Ільїн", "Ильин", "ov", 1),
        ("Бородін", "Бородин", "ov", 1),
        ("Шевченко", "Шевченко", "inv", 5),
        ("Коваленко", "Коваленко", "inv", 4),
        ("Бондаренко", "Бондаренко", "inv", 4),
        ("Ткаченко", "Ткаченко", "inv", 3),
        ("Кравченко", "Кравченко", "inv", 3),
        ("Олійник", "Олейник", "inv", 3),
        ("Мельник", "Мельник", "inv", 4),
        ("Шевчук", "Шевчук", "inv", 3),
        ("Поліщук", "Полищук", "inv", 2),
        ("Бойко", "Бойко", "inv", 4),
        ("Ткачук", "Ткачук", "inv", 2),
        ("Савчук", "Савчук", "inv", 2),
        ("Марченко", "Марченко", "inv", 3),
        ("Руденко", "Руденко", "inv", 2),
        ("Лисенко", "Лысенко", "inv", 2),
        ("Мороз", "Мороз", "inv", 2),
        ("Кравчук", "Кравчук", "inv", 2),
        ("Гончаренко", "Гончаренко", "inv", 2),
        ("Петренко", "Петренко", "inv", 3),
        ("Павленко", "Павленко", "inv", 2),
        ("Ковальчук", "Ковальчук", "inv", 3),
        ("Романенко", "Романенко", "inv", 2),
        ("Мазур", "Мазур", "inv", 2),
        ("Литвиненко", "Литвиненко", "inv", 2),
        ("Пономаренко", "Пономаренко", "inv", 2),
        ("Гаврилюк", "Гаврилюк", "inv", 1),
        ("Дорошенко", "Дорошенко", "inv", 1),
        ("Костенко", "Костенко", "inv", 1),
        ("Кириленко", "Кириленко", "inv", 1),
        ("Сидоренко", "Сидоренко", "inv", 2),
        ("Ковальський", "Ковальский", "sky", 2),
        ("Левицький", "Левицкий", "sky", 2),
        ("Вишневський", "Вишневский", "sky", 1),
        ("Заводський", "Заводский", "sky", 1),
    )
)


@dataclass(frozen=True)
class City:
    """A city: Latin spellings (the first is the current official one), Ukrainian and Russian
    Cyrillic, country code, weight."""

    latin: tuple[str, ...]
    uk: str
    ru: str
    country: str
    weight: float


CITIES: tuple[City, ...] = (
    City(("Kyiv", "Kiev"), "Київ", "Киев", "UA", 6),
    City(("Kharkiv", "Kharkov"), "Харків", "Харьков", "UA", 4),
    City(("Odesa", "Odessa"), "Одеса", "Одесса", "UA", 3),
    City(("Dnipro", "Dnepr"), "Дніпро", "Днепр", "UA", 3),
    City(("Lviv", "Lvov"), "Львів", "Львов", "UA", 3),
    City(("Zaporizhzhia", "Zaporozhye"), "Запоріжжя", "Запорожье", "UA", 2),
    City(("Poltava",), "Полтава", "Полтава", "UA", 1),
    City(("Vinnytsia", "Vinnitsa"), "Вінниця", "Винница", "UA", 1),
    City(("Chernihiv", "Chernigov"), "Чернігів", "Чернигов", "UA", 1),
    City(("Mykolaiv", "Nikolaev"), "Миколаїв", "Николаев", "UA", 1),
    City(("Minsk",), "Мінськ", "Минск", "BY", 2),
    City(("Moscow", "Moskva"), "Москва", "Москва", "RU", 2),
    City(("Warsaw", "Warszawa"), "Варшава", "Варшава", "PL", 1),
)

# Relation of a companion to the poster -> captions per language. "{}" never appears: captions
# are whole phrases, inflected as people write them ("з мамою", "с братом", "my son").
KIN_CAPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "mother": {
        "ru": (
            "С мамой ❤️",
            "Мама и я",
            "С мамулей на даче",
            "Мамочка, с днём рождения!",
            "С любимой мамой",
            "Мы с мамой на море",
        ),
        "uk": (
            "З мамою",
            "Мама і я",
            "З матусею на морі",
            "Мамо, з днем народження!",
            "Моя найкраща мама",
            "Ми з мамою в Карпатах",
        ),
        "en": ("With my mom", "Me and mom", "Happy birthday, Mum!", "Mother's day with my mother"),
    },
    "father": {
        "ru": ("С папой", "Папа и я на рыбалке", "С отцом", "Батя 💪", "С днём рождения, папа!"),
        "uk": ("З татом", "Тато і я на риболовлі", "З батьком", "З днем народження, тату!"),
        "en": ("With my dad", "Dad and me", "Father's day with Dad", "my father, my hero"),
    },
    "son": {
        "ru": ("С сыном", "Мой сын", "Сынок вырос!", "С сыночком в парке", "Горжусь сыном"),
        "uk": ("З сином", "Мій син", "Синочок виріс", "З синочком у парку", "Пишаюся сином"),
        "en": ("My son", "Proud of my son", "With my boy", "me and my son"),
    },
    "daughter": {
        "ru": ("С дочкой", "Моя доченька", "С дочерью на выпускном", "Доча приехала!"),
        "uk": ("З донькою", "Моя донечка", "З дочкою на випускному", "Донька приїхала!"),
        "en": ("My daughter", "With my daughter", "proud of my girl", "daughter's graduation"),
    },
    "brother": {
        "ru": ("С братом", "Братья", "С братишкой", "Мой старший брат", "С братом на рыбалке"),
        "uk": ("З братом", "Брати", "З братиком", "Мій старший брат", "З братом на риболовлі"),
        "en": ("With my brother", "Me and my bro", "brothers", "my little brother"),
    },
    "sister": {
        "ru": ("С сестрой", "Сестрёнка", "С сестричкой", "Моя младшая сестра", "Сёстры"),
        "uk": ("З сестрою", "Сестричка", "З сестрою на відпочинку", "Моя молодша сестра"),
        "en": ("With my sister", "Sisters", "my sis", "me and my sister"),
    },
    "husband": {
        "ru": ("С мужем", "Мой муж", "С любимым мужем", "10 лет вместе с мужем"),
        "uk": ("З чоловіком", "Мій чоловік", "З коханим чоловіком", "10 років разом з чоловіком"),
        "en": ("With my husband", "Me and hubby", "my husband and I"),
    },
    "wife": {
        "ru": ("С женой", "Моя жена", "С супругой", "С любимой женой"),
        "uk": ("З дружиною", "Моя дружина", "З коханою дружиною"),
        "en": ("With my wife", "my wife and I", "Me and the wife"),
    },
    "grandmother": {
        "ru": ("С бабушкой", "Бабуля", "У бабушки"),
        "uk": ("З бабусею", "Бабуся", "У бабусі"),
        "en": ("With grandma", "my grandmother"),
    },
    "grandfather": {
        "ru": ("С дедушкой", "Дедуля", "С дедом"),
        "uk": ("З дідусем", "Дідусь", "З дідом"),
        "en": ("With grandpa", "my grandfather"),
    },
    "grandson": {
        "ru": ("С внуком", "Внучок", "Мой внук"),
        "uk": ("З онуком", "Онучок", "Мій онук"),
        "en": ("My grandson", "with my grandson"),
    },
    "granddaughter": {
        "ru": ("С внучкой", "Внученька", "Моя внучка"),
        "uk": ("З онукою", "Онучка", "Моя онука"),
        "en": ("My granddaughter", "with my granddaughter"),
    },
    "in_law": {
        "ru": ("Со свекровью", "С тёщей", "С зятем", "С невесткой"),
        "uk": ("Зі свекрухою", "З тещею", "З зятем", "З невісткою"),
        "en": ("with my in-laws", "me and my mother-in-law"),
    },
    "family": {
        "ru": ("Вся семья в сборе", "Семейный ужин", "С родителями", "Наша семья"),
        "uk": ("Уся родина разом", "З батьками", "Сімейне свято", "Наша сім'я"),
        "en": ("Family dinner", "With my family", "family reunion", "the whole family"),
    },
}

FRIEND_CAPTIONS: dict[str, tuple[str, ...]] = {
    "ru": (
        "С друзьями",
        "С подругой",
        "С лучшим другом",
        "Встреча одноклассников",
        "Старые друзья",
        "С коллегами",
    ),
    "uk": (
        "З друзями",
        "З подругою",
        "З найкращим другом",
        "Зустріч однокласників",
        "Старі друзі",
        "З колегами",
    ),
    "en": ("With friends", "Me and my bestie", "old friends", "class reunion", "team building"),
}

# Kinship words used figuratively between friends: a caption cue that misleads on purpose.
SLANG_CAPTIONS: dict[str, tuple[str, ...]] = {
    "ru": ("Братан!", "Брат за брата", "Сестрёнка моя (не по крови)"),
    "uk": ("Брате!", "Сестро по духу", "Братва"),
    "en": ("my bro", "sis from another mister", "brothers from another mother"),
}

NEUTRAL_CAPTIONS: dict[str, tuple[str, ...]] = {
    "ru": (
        "Отпуск",
        "Лето!",
        "Хорошо посидели",
        "С Новым годом!",
        "Выходные",
        "Турция 2019",
        "Карпаты",
        "Прекрасный день",
        "🌞",
        "Вечер",
    ),
    "uk": (
        "Відпустка",
        "Літо!",
        "Новий рік",
        "Гарний день",
        "Вихідні",
        "Карпати",
        "Море 🌊",
        "Осінь",
        "Вечір",
    ),
    "en": ("Good times", "Summer!", "Weekend", "New Year", "Vacation", "Sunday", "🎉", "cheers"),
}

SELFIE_CAPTIONS: dict[str, tuple[str, ...]] = {
    "ru": ("Я", "Новая аватарка", "Настроение", "Утро", "На работе"),
    "uk": ("Я", "Нова аватарка", "Настрій", "Ранок", "На роботі"),
    "en": ("me", "new profile pic", "mood", "morning", "at work"),
}

# A kinship word with nobody of that kind in the photo (a solo photo).
MISLEADING_SOLO: dict[str, tuple[str, ...]] = {
    "ru": ("Скучаю по маме", "Папа бы гордился", "Подарок от сестры"),
    "uk": ("Сумую за мамою", "Тато пишався б", "Подарунок від сестри"),
    "en": ("miss you mom", "gift from my sister", "dad would be proud"),
}

NO_FACE_CAPTIONS: dict[str, tuple[str, ...]] = {
    "ru": ("Закат", "Наш сад", "Вкусно!", "Дорога домой"),
    "uk": ("Захід сонця", "Наш сад", "Смачно!", "Дорога додому"),
    "en": ("sunset", "our garden", "yummy", "road trip"),
}

# First names of women among LFW identities with several photos (LFW has no gender labels; an
# unlisted first name is taken as a man's, which is right for about 3 in 4 LFW people).
LFW_FEMALE_FIRST_NAMES = frozenset(
    """Aicha Alexandra Alice Alicia Alison Allison Allyson Amanda Amber Amelia Amelie Ana
    Anastasia Angela Angelina Ann Anna Anne Anneli Annette Arantxa Arianna Arsinee Ashanti Azra
    Barbara Barbra Begum Benazir Beth Betsy Biljana Blythe Bridget Bridgette Brigitte Britney
    Brooke Calista Camilla Candice Candie Carla Carly Carmen Carol Carolina Caroline Carolyn
    Carrie-Anne Cate Catherine Cathy Cecilia Celine Chanda Charlotte Cherie Chita Christina
    Christine Cindy Claire Clara Clare Claudia Conchita Condoleezza Constance Coretta Corinne
    Courtney Cristina Cyndi Daisy Daniela Debbie Debra Demi Denise Desiree Diana Diane Dianne
    Dolly Dolma Donatella Donna Doris Dorthy Edie Edwina Eileen Elena Eliane Elin Elinor
    Elisabeth Elizabeth Ellen Elsa Emily Emma Emmanuelle Erika Erin Eunice Eva Eve Fabiola Faye
    Flavia Frances Geraldine Gianna Gillian Gisele Gloria Goldie Gro Gwyneth Halle Hanan Hannah
    Hayley Heather Heidi Helen Herta Hilary Hillary Hitomi Holly Intisar Isabella Isabelle Iva
    Jackie Jacqueline Jada Jane Janet Janica Jeanne Jelena Jennifer Jessica Joan Jodie Jolanta
    Judi Judy Julia Julianna Julianne Julie Justine Kalpana Karen Karin Kate Katherine Kathleen
    Kathryn Kathy Katie Keira Kelli Kelly Kiki Kristanna Kristen Kristin Laila Lana Laura Lauren
    LeAnn Lea Lili Lily Lina Lindsay Lindsey Lisa Liza Lucy Ludivine Lynne Madeleine Madonna
    Magdalena Maggie Magui Margaret Maria Mariah Mariana Mariangel Marie-Reine Marieta Marilyn
    Marina Marisa Marissa Marlene Martha Martina Mary Mary-Kate Maureen Megan Megawati Meghann
    Melanie Melissa Meryl Minnie Mireya Miyako Monica Monique Nadia Nadine Nancy Naomi Nastassia
    Natalie Natasha Nathalie Nia Nicole Nikki Noelle Nora Norah Olesya Olivia Oprah Oxana Pamela
    Paris Patricia Patti Patty Paula Penelope Petria Priscilla Princess Queen Rachel Raquel
    Rebecca Rebekah Reese Renee Rita Roseanne Rosemarie Ruth Sachiko Sadie Sally Salma Samira
    Sandra Sarah Serena Shannon Sharon Sheila Sheryl Sila Silvia Sonia Sophia Stacy Steffi
    Stockard Sue Susan Susie Suzanne Svetlana Tamara Tammy Theresa Tippi Tomoko Toni Torri
    Tracee Tracy Tyra Uma Valerie Vanessa Venus Vicki Victoria Vivica Winona Yoko Yoriko
    Yukiko""".split()  # noqa: SIM905 - a long word list reads better as text
)

EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example")
UA_OPERATORS = ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99")
