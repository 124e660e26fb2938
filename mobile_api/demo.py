"""A small, realistic government to try the API with: `flask --app wsgi demo-data`."""
import io
from datetime import timedelta

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.security import generate_password_hash

from domain import approvals, documents, inbox, names, resolutions, signatures
from models import Organization, Unit, User, db, utcnow

ORG1 = ("Министерство цифрового развития Республики", "Минцифры", "МЦР")
ORG2 = ("Администрация Заречного муниципального района", "Администрация Заречного р-на", "АЗР")

# username, surname, first name, patronymic, position, roles, unit key (the people of
# tests/fixtures/resolutions/cases.json: Хабибуллин is employee1, Смирнова employee2, Петрова clerk1)
PEOPLE = [
    ("minister", "Сафин", "Рустем", "Ильдарович", "Министр", "executive", "office"),
    ("exec1", "Галиев", "Ильдар", "Рашитович", "Заместитель министра", "executive", "office"),
    ("assistant1", "Миннуллина", "Алсу", "Фаридовна", "Помощник заместителя министра", "assistant", "office"),
    ("clerk1", "Петрова", "Ольга", "Сергеевна", "Начальник отдела делопроизводства", "clerk", "records"),
    ("employee1", "Хабибуллин", "Марат", "Айдарович", "Начальник отдела информатизации", "employee", "it"),
    ("employee2", "Смирнова", "Екатерина", "Павловна", "Главный специалист", "employee", "it"),
    # The organization's administrator: its policies (PATCH /organization), its directory.
    ("admin1", "Козлов", "Денис", "Андреевич", "Администратор системы", "admin", "it"),
]

LETTERS = [
    ("О ходе реализации нацпроекта «Экономика данных» за III квартал",
     "Минэкономразвития России", "Просим до 1 декабря представить сведения о достижении показателей.", True),
    ("О совещании по переходу органов власти на отечественное ПО",
     "Аппарат Правительства Республики", "Совещание состоится 2 декабря в 10:00, зал заседаний.", False),
    ("Обращение гражданина Иванова П.П. о качестве мобильной связи в с. Верхние Ключи",
     "Иванов П.П.", "Заявитель сообщает об отсутствии устойчивого сигнала сотовой связи.", False),
    ("О согласовании ТЗ на модернизацию системы электронного документооборота",
     "ГКУ «ЦИТ»", "Направляем проект ТЗ для согласования.", False),
    ("Информация о плановых работах в центре обработки данных 30 ноября",
     "ГКУ «ЦИТ»", "Работы продлятся с 22:00 до 06:00.", False),
]


def _file(name: str, text: str) -> FileStorage:
    return FileStorage(io.BytesIO(text.encode()), filename=name, content_type="text/plain")


def load(password: str) -> list[tuple[str, str, str]]:
    """Create the demo government; returns (username, role, organization) for each login."""
    if db.session.scalar(sa.select(User.id).where(User.username == "exec1")):
        raise RuntimeError("demo data is already loaded")
    pw = generate_password_hash(password)
    org1 = Organization(name=ORG1[0], short_name=ORG1[1], code=ORG1[2])
    org2 = Organization(name=ORG2[0], short_name=ORG2[1], code=ORG2[2])
    db.session.add_all([org1, org2])
    db.session.flush()
    for org in (org1, org2):
        signatures.init_ca(org)
    office = Unit(organization_id=org1.id, name="Аппарат министра", short_name="Аппарат")
    db.session.add(office)
    db.session.flush()
    units = {
        "office": office,
        "records": Unit(organization_id=org1.id, parent_id=office.id, name="Отдел делопроизводства",
                        short_name="Делопроизводство"),
        "it": Unit(organization_id=org1.id, parent_id=office.id, name="Отдел информатизации",
                   short_name="Информатизация"),
        "head2": Unit(organization_id=org2.id, name="Глава района", short_name="Глава"),
    }
    db.session.add_all(units.values())
    db.session.flush()
    users = {}
    for username, surname, first, patronymic, position, roles, unit in PEOPLE:
        users[username] = User(organization_id=org1.id, username=username, password_hash=pw, role_list=roles,
                               units=[units[unit]],
                               **names.name_fields(surname, first, patronymic, position))
    users["exec2"] = User(organization_id=org2.id, username="exec2", password_hash=pw, role_list="executive",
                          units=[units["head2"]],
                          **names.name_fields("Зарипов", "Айрат", "Ринатович", "Глава района"))
    db.session.add_all(users.values())
    db.session.flush()
    users["assistant1"].executives = [users["exec1"]]

    clerk, exec1 = users["clerk1"], users["exec1"]
    docs = []
    for i, (title, sender, summary, urgent) in enumerate(LETTERS):
        meta = {"title": title, "summary": summary, "correspondent": sender, "addressees": [office.id],
                "for_information": [], "urgent": urgent,
                # The first, urgent letter is already a day overdue; the others are due in five days.
                "due_at": utcnow() + timedelta(days=-1 if i == 0 else 5)}
        docs.append(documents.register(clerk, meta, [_file("Письмо.txt", f"{title}\n\n{summary}\n")]))
    # Information only, for exec1.
    inbox.withdraw(exec1.id, docs[4].id, "resolution")
    inbox.deliver([exec1.id], docs[4], "info", docs[4].correspondent)
    # The minister instructs exec1: a task.
    res = resolutions.create(users["minister"], docs[1], "Подготовить предложения к совещанию.",
                             [exec1.id, users["employee1"].id], utcnow() + timedelta(days=2))
    resolutions.issue(users["minister"], res.id)
    # A draft order sent to exec1 for review, and the ToR awaiting his approval.
    inbox.deliver([exec1.id], docs[2], "review", clerk.short_name)
    # The ToR: exec1 approves first, then the minister.
    approvals.put_route(clerk, docs[3], [{"mode": "sequential", "approvers": [exec1.id]},
                                         {"mode": "sequential", "approvers": [users["minister"].id]}])
    # exec2's municipality has its own document.
    meta = {"title": "О подготовке к отопительному сезону", "summary": "", "correspondent": "МУП «Теплосети»",
            "addressees": [units["head2"].id], "for_information": [], "urgent": False, "due_at": None}
    clerk2 = User(organization_id=org2.id, username="clerk2", password_hash=pw, role_list="clerk",
                  units=[units["head2"]],
                  **names.name_fields("Волкова", "Анна", "Игоревна", "Управляющий делами"))
    db.session.add(clerk2)
    db.session.flush()
    documents.register(clerk2, meta, [_file("Письмо.txt", "Отопительный сезон\n")])
    db.session.commit()
    return [(u.username, u.role_list, u.organization.short_name) for u in [*users.values(), clerk2]]
