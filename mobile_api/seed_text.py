"""What the seeded documents say: a few kilobytes of Russian (and now and then Tatar) text each.

The words are real forms from pymorphy3's dictionary: every form of a few hundred office words
(«договор», «договора», «договорам»…) and, for the long tail, their neighbours in the dictionary's
word list (rarer forms and words: «договаривавшая», «жалобность»). They are ranked, function words
first, then the office forms, then the tail, and drawn with Zipf weights (1/rank), so a few words
are in nearly every document and most in a handful, as in real mail. Sentences are drawn once into a
pool and each document takes a run of them: the drawing costs microseconds a document.
"""
import itertools
import random
from functools import lru_cache

from domain.parsing.ru import _morph

FUNCTION = ("в на о по для с к от до и или а также не что как из при об за его их этот данный указанный "
            "в связи с согласно в соответствии с").split()
LEMMAS = (
    "договор письмо постановление распоряжение приказ администрация район поселение министерство бюджет "
    "субсидия дорога ремонт школа больница проект программа отчёт заявление жалоба гражданин комиссия "
    "совещание решение контракт закупка поставка оплата задолженность налог земля участок строительство "
    "объект здание вода газ тариф услуга население сельхозпроизводитель урожай техника мост памятник "
    "библиотека культура спорт молодёжь ветеран пенсия пособие семья ребёнок врач лекарство транспорт "
    "автобус маршрут пожар безопасность полиция прокуратура суд иск экспертиза проверка нарушение "
    "предписание штраф лицензия разрешение реестр сведения информация предложение срок исполнение контроль "
    "поручение мероприятие праздник выборы депутат собрание совет глава республика правительство президент "
    "аппарат отдел управление служба инспекция организация учреждение предприятие работник специалист "
    "руководитель заместитель начальник обращение запрос ответ документ приложение порядок положение "
    "регламент норматив показатель мониторинг анализ расчёт смета стоимость средство финансирование "
    "компенсация выплата очередь жильё квартира дом отопление канализация электроснабжение освещение "
    "благоустройство территория парк улица площадь водоснабжение мусор отход экология лес река охрана "
    "образование учитель ученик студент университет колледж здравоохранение поликлиника пациент медицина "
    "вакцинация эпидемия статистика численность доход расход рынок торговля цена продукция зерно молоко "
    "скот ферма трактор семена удобрение погода засуха паводок чрезвычайный ситуация "
    "муниципальный районный республиканский федеральный бюджетный дорожный строительный социальный "
    "медицинский земельный налоговый срочный дополнительный ежегодный плановый государственный "
    "областной городской сельский местный финансовый экономический технический общественный "
    "рассмотреть обеспечить представить согласовать утвердить выделить провести устранить подготовить "
    "направить сообщить проинформировать организовать принять учесть доложить исполнить проверить "
    "разработать внести установить определить осуществить").split()
TATAR = ("Татарстан Республикасы министрлыгы белән буенча хөрмәтле җитәкче район авыл халык мәдәният "
         "сәламәтлек саклау мәгариф күрсәтмә үтәү хат җавап сорау мөрәҗәгать гариза эш эшләр бүлек "
         "идарә хакимият шәһәр юл төзелеш мәктәп балалар бакчасы хезмәт хезмәткәрләр акча бюджет ел "
         "айлар көн вакыт срогы тикшерү нәтиҗә карар боерык документ мәгълүмат турында өчен һәм дә "
         "тиеш кирәк булырга тәкъдим итәбез сорыйбыз җибәрәбез хәбәр итәбез карарга тапшырырга").split()
POOL = 100_000  # sentences drawn once


@lru_cache(maxsize=1)
def vocabulary() -> tuple[list[str], list[float]]:
    """Word forms in rank order and their cumulative Zipf weights."""
    morph, rng = _morph(), random.Random(7)
    office: list[str] = []
    for lemma in LEMMAS:
        office.extend(f.word for f in morph.parse(lemma)[0].lexeme)
    office = list(dict.fromkeys(w for w in office if w.isalpha()))
    rng.shuffle(office)
    tail = []
    for prefix in sorted({w[:5] for w in office if len(w) > 5}):
        tail.extend(w for w in itertools.islice(morph.dictionary.words.iterkeys(prefix), 25) if w.isalpha())
    known = set(office) | set(FUNCTION)
    tail = [w for w in dict.fromkeys(tail) if w not in known]
    rng.shuffle(tail)
    forms = list(dict.fromkeys(FUNCTION)) + office + tail
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(forms))))
    return forms, weights


def _sentence(rng: random.Random, forms: list[str], weights: list[float]) -> str:
    words = rng.choices(forms, cum_weights=weights, k=rng.randint(7, 19))
    return " ".join(words).capitalize() + "."


@lru_cache(maxsize=1)
def _pools() -> tuple[list[str], list[str]]:
    forms, weights = vocabulary()
    rng = random.Random(11)
    tatar_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(TATAR))))
    return ([_sentence(rng, forms, weights) for _ in range(POOL)],
            [_sentence(rng, TATAR, tatar_weights) for _ in range(POOL // 20)])


class Writer:
    """Texts of about `size` characters; one in `tatar_every` documents has a Tatar part."""

    def __init__(self, rng: random.Random, size: int = 2500, tatar_every: int = 12):
        self.rng, self.size, self.tatar_every = rng, size, tatar_every
        self.russian, self.tatar = _pools()

    def text(self, k: int) -> str:
        if not self.size:  # a region without bodies: its documents are found by number, title and sender
            return ""
        rng, out, length = self.rng, [], 0
        target = int(self.size * rng.uniform(0.5, 1.5))
        while length < target:
            sentence = self.russian[rng.randrange(len(self.russian))]
            out.append(sentence)
            length += len(sentence) + 1
        if k % self.tatar_every == 0:  # a bilingual letter: a Tatar paragraph
            tatar = [self.tatar[rng.randrange(len(self.tatar))] for _ in range(rng.randint(3, 10))]
            out.insert(rng.randrange(len(out) + 1), "\n" + " ".join(tatar) + "\n")
        return " ".join(out)
