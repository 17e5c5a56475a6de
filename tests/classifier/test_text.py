"""Text normalisation, and proof that it runs inside the fitted pipeline."""

import numpy as np
import pytest

from classifier.text import normalize, readable


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Kijk op https://www.utrecht.nl/afval?x=1 of www.denhaag.nl", "kijk op urltoken of urltoken"),
        ("@GemeenteUtrecht @jan_01 help", "mentiontoken mentiontoken help"),
        ("mail naar jan.de.vries@example.nl", "mail naar emailtoken"),
        ("Kerkstraat 12a, 3511 AB Utrecht", "kerkstraat numbertoken , postcodetoken utrecht"),
        ("postcode 3511ab", "postcode postcodetoken"),
        ("In 2023 al gemeld", "in numbertoken al gemeld"),
        ("bel 06-12345678", "bel phonetoken"),
        ("Heeeeel veeeeel troep!!!!", "heel veel troep!!"),
        ("Boom in de straat", "boom in de straat"),
        ("Één café, ĳs en überhaupt", "een cafe, ijs en uberhaupt"),
        ("Top 👍🏽 maar dit 😡 en 🚲", "top emojipositive maar dit emojinegative en emojitoken"),
        ("  veel\n\tspaties  ", "veel spaties"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_readable_spells_out_placeholders():
    assert readable("numbertoken kapot") == "<number> kapot"
    assert readable("urltoken") == "<link>"


def test_normalize_is_the_preprocessor_of_both_fitted_vectorizers(model):
    vectorizers = dict(model.pipeline.named_steps["features"].transformer_list)
    assert set(vectorizers) == {"words", "chars"}
    for vectorizer in vectorizers.values():
        assert vectorizer.preprocessor is normalize
    words = vectorizers["words"].vocabulary_
    chars = vectorizers["chars"].vocabulary_
    # The training data holds t.co links, @mentions and emoji: only their tokens may be learned.
    assert {"urltoken", "mentiontoken", "emojinegative"} <= set(words)
    assert not any("http" in term or "t.co" in term or "@" in term for term in words)
    assert not any("http" in gram or "😡" in gram for gram in chars)
    assert "urlto" in chars


def test_pipeline_sees_different_urls_and_numbers_as_the_same_message(model):
    texts = ["zie http://a.nl/x bij Kerkstraat 12", "zie https://b.nl/y?z=2 bij Kerkstraat 345b"]
    probabilities = model.pipeline.predict_proba(texts)
    np.testing.assert_array_equal(probabilities[0], probabilities[1])
    first, second = model.predict(texts)
    assert first == second
