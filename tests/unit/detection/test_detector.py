"""Detection on photos scikit-image ships, with MediaPipe's weights."""

from __future__ import annotations

import base64

import pytest

from slipway.flavors.detection.detector import Detector, Request
from slipway.flavors.detection.limits import NotAnImage
from tests.unit.detection.weights import photo


def test_astronaut_has_a_face_in_the_right_place_and_a_person(detector: Detector) -> None:
    (result,) = detector.detect([photo("astronaut.png")])
    faces = [d for d in result.detections if d.label == "face"]
    people = [d for d in result.detections if d.label == "person"]
    assert len(faces) == 1
    assert faces[0].score > 0.8
    x1, y1, x2, y2 = faces[0].box
    # Eileen Collins' face: checked by drawing the box (x ~175-272, y ~80-175 of 512x512).
    assert 150 < x1 < 200
    assert 250 < x2 < 300
    assert 55 < y1 < 100
    assert 150 < y2 < 200
    assert people
    assert people[0].score > 0.5
    px1, py1, px2, py2 = people[0].box
    assert px1 <= x1
    assert py1 <= y1
    assert px2 >= x2
    assert py2 >= y2
    assert (result.stats.width, result.stats.height) == (512, 512)


@pytest.mark.parametrize("name", ["chelsea.png", "coffee.png"])
def test_no_face_in_the_cat_or_the_coffee(detector: Detector, name: str) -> None:
    (result,) = detector.detect([photo(name)])
    assert not [d for d in result.detections if d.label == "face"]


def test_a_batch_gives_each_image_its_own_answer(detector: Detector) -> None:
    alone = detector.detect([photo("astronaut.png")])[0].detections
    batch = detector.detect([photo("coffee.png"), photo("astronaut.png"), photo("chelsea.png")])
    assert batch[1].detections == alone
    assert not [d for d in batch[0].detections if d.label == "face"]


def test_request_options_and_base64(detector: Detector) -> None:
    text = base64.b64encode(photo("astronaut.png")).decode()
    (strict,) = detector.detect([text], [Request(score_threshold=0.99)])
    assert strict.detections == []
    (one,) = detector.detect([text], [Request(max_detections=1)])
    assert len(one.detections) == 1
    assert one.detections[0].label == "face"
    with pytest.raises(NotAnImage, match="not valid base64"):
        detector.detect(["***"])


def test_predict_outputs_one_row_per_image(detector: Detector) -> None:
    outputs = detector.predict(
        {"image": [photo("chelsea.png"), photo("astronaut.png")], "score_threshold": [0.5, 0.5]}
    )
    assert list(outputs["num_detections"]) == [0, 2]
    assert list(outputs["width"]) == [451, 512]
    assert '"label":"face"' in outputs["detections"][1]
