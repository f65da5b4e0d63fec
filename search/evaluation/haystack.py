"""Public-domain prose for the needle task's haystack.

By default the haystack is Leo Tolstoy's *War and Peace* (Louise and Aylmer Maude's English
translation, public domain; the Project Gutenberg text) read at run time from
``../shared/data/mixed_docs/book-war-and-peace-1225p.txt`` when that file is beside the checkout,
or any UTF-8 text file you pass. When none is found, the built-in fallback below is used: the
text of the United States Declaration of Independence (1776), which is in the public domain.
Reports state which haystack was used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BUILTIN_NAME = "United States Declaration of Independence (1776), built in"

BUILTIN_TEXT = """\
When in the Course of human events, it becomes necessary for one people to dissolve the political
bands which have connected them with another, and to assume among the powers of the earth, the
separate and equal station to which the Laws of Nature and of Nature's God entitle them, a decent
respect to the opinions of mankind requires that they should declare the causes which impel them
to the separation. We hold these truths to be self-evident, that all men are created equal, that
they are endowed by their Creator with certain unalienable Rights, that among these are Life,
Liberty and the pursuit of Happiness. That to secure these rights, Governments are instituted
among Men, deriving their just powers from the consent of the governed. That whenever any Form of
Government becomes destructive of these ends, it is the Right of the People to alter or to
abolish it, and to institute new Government, laying its foundation on such principles and
organizing its powers in such form, as to them shall seem most likely to effect their Safety and
Happiness. Prudence, indeed, will dictate that Governments long established should not be changed
for light and transient causes; and accordingly all experience hath shewn, that mankind are more
disposed to suffer, while evils are sufferable, than to right themselves by abolishing the forms
to which they are accustomed. But when a long train of abuses and usurpations, pursuing invariably
the same Object evinces a design to reduce them under absolute Despotism, it is their right, it
is their duty, to throw off such Government, and to provide new Guards for their future security.
Such has been the patient sufferance of these Colonies; and such is now the necessity which
constrains them to alter their former Systems of Government. The history of the present King of
Great Britain is a history of repeated injuries and usurpations, all having in direct object the
establishment of an absolute Tyranny over these States. To prove this, let Facts be submitted to
a candid world. He has refused his Assent to Laws, the most wholesome and necessary for the public
good. He has forbidden his Governors to pass Laws of immediate and pressing importance, unless
suspended in their operation till his Assent should be obtained; and when so suspended, he has
utterly neglected to attend to them. He has refused to pass other Laws for the accommodation of
large districts of people, unless those people would relinquish the right of Representation in
the Legislature, a right inestimable to them and formidable to tyrants only. He has called
together legislative bodies at places unusual, uncomfortable, and distant from the depository of
their public Records, for the sole purpose of fatiguing them into compliance with his measures.
He has dissolved Representative Houses repeatedly, for opposing with manly firmness his invasions
on the rights of the people. He has refused for a long time, after such dissolutions, to cause
others to be elected; whereby the Legislative powers, incapable of Annihilation, have returned to
the People at large for their exercise; the State remaining in the mean time exposed to all the
dangers of invasion from without, and convulsions within. He has endeavoured to prevent the
population of these States; for that purpose obstructing the Laws for Naturalization of
Foreigners; refusing to pass others to encourage their migrations hither, and raising the
conditions of new Appropriations of Lands. He has obstructed the Administration of Justice, by
refusing his Assent to Laws for establishing Judiciary powers. He has made Judges dependent on his
Will alone, for the tenure of their offices, and the amount and payment of their salaries. He has
erected a multitude of New Offices, and sent hither swarms of Officers to harrass our people, and
eat out their substance. He has kept among us, in times of peace, Standing Armies without the
Consent of our legislatures. He has affected to render the Military independent of and superior
to the Civil power. He has combined with others to subject us to a jurisdiction foreign to our
constitution, and unacknowledged by our laws; giving his Assent to their Acts of pretended
Legislation. In every stage of these Oppressions We have Petitioned for Redress in the most humble
terms: Our repeated Petitions have been answered only by repeated injury. A Prince whose character
is thus marked by every act which may define a Tyrant, is unfit to be the ruler of a free people.
Nor have We been wanting in attentions to our British brethren. We have warned them from time to
time of attempts by their legislature to extend an unwarrantable jurisdiction over us. We have
reminded them of the circumstances of our emigration and settlement here. We have appealed to
their native justice and magnanimity, and we have conjured them by the ties of our common kindred
to disavow these usurpations, which would inevitably interrupt our connections and
correspondence. They too have been deaf to the voice of justice and of consanguinity. We must,
therefore, acquiesce in the necessity, which denounces our Separation, and hold them, as we hold
the rest of mankind, Enemies in War, in Peace Friends. We, therefore, the Representatives of the
united States of America, in General Congress, Assembled, appealing to the Supreme Judge of the
world for the rectitude of our intentions, do, in the Name, and by Authority of the good People of
these Colonies, solemnly publish and declare, That these United Colonies are, and of Right ought
to be Free and Independent States; that they are Absolved from all Allegiance to the British
Crown, and that all political connection between them and the State of Great Britain, is and
ought to be totally dissolved. And for the support of this Declaration, with a firm reliance on
the protection of divine Providence, we mutually pledge to each other our Lives, our Fortunes and
our sacred Honor.
"""

_WAR_AND_PEACE = Path("mixed_docs") / "book-war-and-peace-1225p.txt"
_SENTENCE_END = re.compile(r'(?<=[.!?])["\')\]]*\s+(?=["\'(\[]?[A-Z0-9])')


def default_haystack_path() -> Path | None:
    """War and Peace under the shared data folder, when it is there."""
    base = os.environ.get("DIFFSEARCH_SHARED_DATA")
    roots = [Path(base)] if base else []
    roots.append(Path(__file__).resolve().parents[3] / "shared" / "data")
    for root in roots:
        path = root / _WAR_AND_PEACE
        if path.is_file():
            return path
    return None


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` with whitespace collapsed (a simple punctuation-based splitter)."""
    flat = " ".join(text.split())
    out = []
    start = 0
    for m in _SENTENCE_END.finditer(flat):
        out.append(flat[start : m.start() + len(m.group(0).rstrip())].strip())
        start = m.end()
    out.append(flat[start:].strip())
    return [s for s in out if s]


def load_haystack(path: str | Path | None = None) -> tuple[str, list[str]]:
    """``(source description, sentences)`` of the haystack prose.

    Args:
        path: A UTF-8 text file; default War and Peace from the shared data, else built-in.
    """
    chosen = Path(path).expanduser() if path else default_haystack_path()
    if chosen is None:
        return BUILTIN_NAME, split_sentences(BUILTIN_TEXT)
    text = chosen.read_text(encoding="utf-8", errors="replace")
    name = (
        "War and Peace (Tolstoy, tr. Maude; public domain)"
        if chosen.name == _WAR_AND_PEACE.name
        else ""
    )
    return f"{name or chosen.name} from {chosen}", split_sentences(text)
