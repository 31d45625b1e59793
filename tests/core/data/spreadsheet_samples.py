"""Real-language text tables the way spreadsheet programs save them: Spanish, German and Japanese
sentences in `;`, tab and `,` files, with and without a byte-order mark, in UTF-16, with cells that
hold line breaks (RFC 4180 quoting, written by Python's csv module as spreadsheets write it)."""
import csv
import io

SPANISH = {   # Texto;Categoría — two classes of ten
    "hola": ["Hola, ¿qué tal estás hoy?", "Buenos días, señora García.", "¡Hola a todos los vecinos!",
               "Buenas tardes, ¿cómo le va?", "Qué alegría verte de nuevo, amigo.", "Hola, mucho gusto en conocerte.",
               "Buenas noches y bienvenidos a la reunión.", "¡Saludos desde Andalucía!",
               "Hola, soy la nueva profesora de español.", "Encantado de saludarte, María."],
    "adiós": ["Adiós, nos vemos mañana.", "Hasta luego, que te vaya bien.", "Me despido con un fuerte abrazo.",
                  "Chao, cuídate mucho en el viaje.", "Hasta pronto, fue un placer.", "Adiós y gracias por todo.",
                  "Nos vemos la semana que viene, ¿vale?", "Que descanses, hasta mañana.",
                  "Me voy ya, adiós a todos.", "Hasta la próxima, compañeros."],
}
GERMAN = {    # Satz / Kategorie — labels with umlauts
    "Wetter": ["Heute regnet es den ganzen Tag.", "Morgen wird es sonnig und warm.", "Der Wind weht sehr stark.",
               "Im Süden schneit es seit Stunden.", "Es ist kühl und neblig draußen.", "Die Hitze ist kaum zu ertragen.",
               "Ein Gewitter zieht über München.", "Nachts friert es bei minus fünf Grad.",
               "Der Himmel ist grau und trüb.", "Übermorgen gibt es wieder Regen."],
    "Küche": ["Die Brötchen schmecken süß und frisch.", "Wir kochen heute Gemüsesuppe.", "Der Käse ist würzig.",
              "Zum Frühstück gibt es Müsli mit Äpfeln.", "Die Soße braucht mehr Salz.", "Ich backe einen Apfelkuchen.",
              "Das Schnitzel ist zu trocken geraten.", "Frische Kräuter machen den Salat besser.",
              "Die Knödel köcheln im Topf.", "Nach dem Essen gibt es Kaffee und Torte."],
}
JAPANESE = {  # テキスト,ラベル — CJK labels
    "天気": ["今日は一日中雨が降っています。", "明日は晴れて暖かくなるでしょう。", "風がとても強いです。",
           "北の地方では雪が降っています。", "朝は霧が濃くて寒かった。", "夏の暑さは厳しいです。",
           "午後から雷雨になる予報です。", "空がどんよりと曇っている。", "週末は台風が近づきます。", "梅雨の季節が始まった。"],
    "食べ物": ["このラーメンはとてもおいしい。", "寿司を食べに行きましょう。", "朝ごはんにパンを食べた。",
            "母の作るカレーが好きです。", "この店の天ぷらは有名です。", "甘いケーキを買いました。",
            "味噌汁に豆腐を入れる。", "新鮮な魚で刺身を作った。", "お弁当におにぎりを入れた。", "抹茶のアイスが人気です。"],
}
LANGUAGES = {"es": (SPANISH, ("Texto", "Categoría")), "de": (GERMAN, ("Satz", "Kategorie")),
             "ja": (JAPANESE, ("テキスト", "ラベル"))}
ROWS = 20


def table_text(lang: str, delimiter: str, *, multiline: bool = False) -> str:
    """The table (header + 20 rows) as a string; ``multiline``: every other text holds a line break."""
    samples, header = LANGUAGES[lang]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for i in range(10):
        for label, texts in samples.items():
            text = texts[i]
            if multiline and i % 2 == 0:
                text = text + "\n" + ("¿Y tú?" if lang == "es" else "Wirklich." if lang == "de" else "本当です。")
            writer.writerow([text, label])
    return out.getvalue()


# (file name, language, delimiter, encoding of the bytes, multi-line cells)
VARIANTS = [
    ("es_semicolon.csv", "es", ";", "utf-8", False),
    ("es_semicolon_bom.csv", "es", ";", "utf-8-sig", False),
    ("es_multiline.csv", "es", ";", "utf-8", True),
    ("de_tab.tsv", "de", "\t", "utf-8", False),
    ("de_tab_utf16.txt", "de", "\t", "utf-16", False),    # Excel's "Unicode text"
    ("de_semicolon_multiline_bom.csv", "de", ";", "utf-8-sig", True),
    ("ja_comma.csv", "ja", ",", "utf-8", False),
    ("ja_comma_bom_multiline.csv", "ja", ",", "utf-8-sig", True),
    ("ja_tab_utf16.csv", "ja", "\t", "utf-16", True),
]


def write_variant(folder, name: str):
    _, lang, delimiter, encoding, multiline = next(v for v in VARIANTS if v[0] == name)
    path = folder / name
    path.write_bytes(table_text(lang, delimiter, multiline=multiline).encode(encoding))
    return path
