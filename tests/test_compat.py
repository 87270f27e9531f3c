"""The compatibility data is internally consistent and matches the facts it was built from."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from envspec.compat import Compat, cuda_of_variant, driver_tuple, parse_compat, variant_for_cuda
from envspec.spec import PLATFORMS


def test_every_series_is_consistent(compat: Compat) -> None:
    for key, series in compat.torch.items():
        assert series.pypi_default in series.variants, key
        assert "cpu" in series.variants, key
        assert set(series.experimental) <= set(series.variants), key
        assert set(series.python) <= set(compat.python.known), key
        assert set(series.platforms) <= set(PLATFORMS), key
        assert set(series.cuda_platforms) <= set(series.platforms), key
        for constraint in series.constraints:
            Requirement(constraint)
        for release, companions in series.releases.items():
            version = Version(release)
            assert f"{version.major}.{version.minor}" == key, release
            if companions.torchvision:
                # torchvision's minor tracks torch's: 2.N <-> 0.(N+15)
                assert Version(companions.torchvision).minor == version.minor + 15, release
            if companions.torchaudio:
                assert Version(companions.torchaudio).major == 2, release


def test_every_cuda_variant_has_cuda_data(compat: Compat) -> None:
    for series in compat.torch.values():
        for variant in series.variants:
            cuda = cuda_of_variant(variant)
            if cuda is not None:
                assert cuda in compat.cuda.versions, variant
                assert compat.min_driver(cuda) is not None, variant


def test_every_known_python_has_a_base_image(compat: Compat) -> None:
    assert set(compat.python.images) == set(compat.python.known)


def test_cuda_images_match_their_version(compat: Compat) -> None:
    for version, release in compat.cuda.versions.items():
        assert release.toolkit.startswith(version + "."), version
        for tag in (
            release.images.base,
            release.images.runtime,
            release.images.devel,
            release.images.cudnn_devel,
        ):
            assert tag.startswith(f"nvidia/cuda:{release.toolkit}-"), tag


@pytest.mark.parametrize(
    ("release", "python", "default", "torchvision"),
    [
        ("2.1.2", ("3.8", "3.9", "3.10", "3.11"), "cu121", "0.16.2"),
        ("2.5.1", ("3.9", "3.10", "3.11", "3.12", "3.13"), "cu124", "0.20.1"),
        ("2.11.0", ("3.10", "3.11", "3.12", "3.13", "3.14"), "cu130", "0.26.0"),
        ("2.14.1", ("3.10", "3.11", "3.12", "3.13", "3.14"), "cu130", "0.29.1"),
    ],
)
def test_facts_from_the_release_matrix(
    compat: Compat, release: str, python: tuple[str, ...], default: str, torchvision: str
) -> None:
    series = compat.torch_series(release)
    assert series is not None
    assert series.python == python
    assert series.pypi_default == default
    assert compat.companions(release).torchvision == torchvision


def test_numpy_constraint_only_before_2_3(compat: Compat) -> None:
    for release in compat.torch_releases():
        series = compat.torch_series(release)
        assert series is not None
        assert ("numpy<2" in series.constraints) == (Version(release) < Version("2.3")), release


def test_torchaudio_ends_at_2_11(compat: Compat) -> None:
    last = max((r for r in compat.torch_releases() if compat.companions(r).torchaudio), key=Version)
    assert last == "2.11.0"


def test_driver_floors(compat: Compat) -> None:
    assert compat.min_driver("11.8") == "450.80.02"
    assert compat.min_driver("12.1") == "525.60.13"
    assert compat.min_driver("13.0") == "580"
    assert compat.min_driver("99.0") is None
    assert driver_tuple("535.129.03") < driver_tuple("580")
    assert driver_tuple("525.60.13") > driver_tuple("525.60.2")


def test_variant_labels_round_trip() -> None:
    for cuda in ("11.8", "12.1", "12.4", "13.0", "13.2"):
        assert cuda_of_variant(variant_for_cuda(cuda)) == cuda
    assert cuda_of_variant("cpu") is None
    assert cuda_of_variant("rocm6.2") is None


def test_unknown_release_is_none(compat: Compat) -> None:
    assert compat.torch_series("2.1.9") is None
    assert compat.torch_series("9.0.0") is None


def test_data_file_is_validated() -> None:
    with pytest.raises(ValueError, match="format"):
        parse_compat(
            "format = 2\n[python]\nknown = []\nimages = {}\n[cuda]\nfamilies = {}\nversions = {}\n[torch]\n"
        )
