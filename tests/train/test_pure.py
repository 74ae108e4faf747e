"""The pure parts of the train stage on in-memory arrays: reading, splits, models, scores."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.model_selection import train_test_split

from stages.common.model_contract import served_volumes
from stages.common.schema import FEATURES_SCHEMA
from stages.train.dataset import TrainInputError, training_data_from_table
from stages.train.models import (
    BoosterConfig,
    fit_booster,
    fit_forest,
    forest_pickled_bytes,
    pickled_bytes,
    predict_booster,
    predict_naive,
    regression_scores,
    training_sample,
)
from stages.train.splits import (
    PermutationDraws,
    draw_permutation,
    random_split,
    score_rows,
    shuffled_split,
    time_cutoff,
    time_split,
)
from tests.train.synthetic_features import synthetic_features_table


@pytest.fixture(scope="module")
def synthetic() -> pa.Table:
    table, _ = synthetic_features_table(total_rows=6000, n_symbols=12, seed=3)
    return table


def test_synthetic_table_has_the_features_schema_and_null_warm_up_rows(synthetic: pa.Table) -> None:
    assert synthetic.schema.equals(FEATURES_SCHEMA)
    assert synthetic.column("vol_moving_avg").null_count == 12 * 29


def test_rows_with_a_null_feature_are_dropped_and_counted(synthetic: pa.Table) -> None:
    data = training_data_from_table(synthetic)
    assert data.rows_read == synthetic.num_rows
    assert data.rows_dropped_null == 12 * 29
    assert data.rows == synthetic.num_rows - 12 * 29
    assert data.features.shape == (data.rows, 2) and data.features.flags.c_contiguous
    assert np.isfinite(data.features).all()
    assert data.day.dtype == np.int32
    assert str(np.datetime64(int(data.day.max()), "D")) == "2020-04-01"


def test_bad_tables_raise_errors_naming_the_source(synthetic: pa.Table) -> None:
    with pytest.raises(TrainInputError, match="src: the features files hold no rows"):
        training_data_from_table(synthetic.slice(0, 0), source="src")
    with pytest.raises(TrainInputError, match="every row has a null feature"):
        training_data_from_table(synthetic.slice(0, 20), source="src")
    bad_date = synthetic.set_column(2, "Date", pa.array(["01/02/2020"] * synthetic.num_rows))
    with pytest.raises(TrainInputError, match="Date is not YYYY-MM-DD"):
        training_data_from_table(bad_date, source="src")
    null_date = synthetic.set_column(2, "Date", pa.array([None] * synthetic.num_rows, pa.string()))
    with pytest.raises(TrainInputError, match="src: column Date has a null value"):
        training_data_from_table(null_date, source="src")


def test_without_dates_the_same_rows_are_kept_in_the_same_order(synthetic: pa.Table) -> None:
    """train reads no Date, evaluate does: both must keep the same rows for the splits to agree."""
    with_dates = training_data_from_table(synthetic)
    without = training_data_from_table(synthetic.drop_columns(["Date"]))
    assert without.day is None
    assert np.array_equal(without.features, with_dates.features)
    assert np.array_equal(without.target, with_dates.target)


def test_conversion_over_many_chunks_equals_a_whole_column_cast(synthetic: pa.Table) -> None:
    """The columns are copied chunk by chunk into the arrays (as the scan returns one chunk per file
    batch); the result is that of casting each whole column, rows with a non-finite value dropped."""
    chunked = pa.Table.from_batches(synthetic.to_batches(max_chunksize=257))
    assert chunked.column("Volume").num_chunks > 20
    data = training_data_from_table(chunked)
    whole = synthetic.filter(pa.compute.is_valid(synthetic.column("vol_moving_avg")))
    expected_target = whole.column("Volume").to_numpy().astype(np.float64)
    assert np.array_equal(data.target, expected_target)
    assert np.array_equal(data.features[:, 1], whole.column("adj_close_rolling_med").to_numpy())
    # one infinite feature value: that row goes, the others stay, in order
    values = synthetic.column("vol_moving_avg").to_numpy(zero_copy_only=False).copy()
    at = int(np.flatnonzero(np.isfinite(values))[5])
    values[at] = np.inf
    with_inf = synthetic.set_column(
        synthetic.schema.get_field_index("vol_moving_avg"),
        "vol_moving_avg",
        pa.array(values, mask=~np.isfinite(values) & ~np.isinf(values)),
    )
    dropped = training_data_from_table(with_inf)
    assert dropped.rows == data.rows - 1
    assert np.isfinite(dropped.features).all()


def test_nulls_anywhere_and_sliced_chunks_drop_exactly_those_rows(synthetic: pa.Table) -> None:
    """A null in any tested column, in the middle of a chunk, drops that row only; chunks that
    start inside their buffers (slices) are read from their offset."""
    volume = synthetic.column("Volume").to_numpy(zero_copy_only=False).astype(float)
    holes = np.zeros(synthetic.num_rows, dtype=bool)
    holes[[1000, 2500, 4001]] = True
    with_holes = synthetic.set_column(
        synthetic.schema.get_field_index("Volume"),
        "Volume",
        pa.array(volume.astype(np.int64), mask=holes),
    )
    sliced = pa.concat_tables(
        [with_holes.slice(0, 1700), with_holes.slice(1700, 3000), with_holes.slice(4700)]
    )
    data = training_data_from_table(sliced)
    keep = ~holes & synthetic.column("vol_moving_avg").is_valid().to_numpy(zero_copy_only=False)
    assert data.rows == int(keep.sum()) and data.rows_dropped_null == synthetic.num_rows - int(keep.sum())
    assert np.array_equal(data.target, volume[keep])
    expected_day = synthetic.column("Date").cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
    assert np.array_equal(data.day, expected_day[keep])


def test_a_column_that_holds_no_numbers_is_named(synthetic: pa.Table) -> None:
    text = synthetic.set_column(
        synthetic.schema.get_field_index("Volume"),
        "Volume",
        pa.array(["1"] * synthetic.num_rows),
    )
    with pytest.raises(TrainInputError, match="src: column Volume holds string, not numbers"):
        training_data_from_table(text, source="src")


def test_a_permutation_drawn_ahead_is_the_one_drawn_in_place() -> None:
    draws = PermutationDraws()
    draws.start(10_000, 42)
    assert np.array_equal(draws.get(10_000, 42), np.random.RandomState(42).permutation(10_000))
    # once taken it is gone; another count or seed is drawn in place
    assert np.array_equal(draws.get(10_000, 42), draw_permutation(10_000, 42))
    draws.start(500, 7)
    assert np.array_equal(draws.get(501, 7), draw_permutation(501, 7))
    train, test = shuffled_split(500, 0.2, 7, draws)
    expected_train, expected_test = shuffled_split(500, 0.2, 7)
    assert np.array_equal(train, expected_train) and np.array_equal(test, expected_test)


def test_random_split_is_the_tasks_train_test_split() -> None:
    x = np.arange(1000 * 2, dtype=float).reshape(1000, 2)
    x_train, x_test = train_test_split(x, test_size=0.2, random_state=42)
    split = random_split(1000, max_scored=10_000)
    assert np.array_equal(x[split.train], x_train) and np.array_equal(x[split.test], x_test)
    assert np.array_equal(split.scored, np.sort(split.test))


@pytest.mark.parametrize("n_rows", [5, 11, 999, 1000, 123_457])
@pytest.mark.parametrize("test_size", [0.2, 0.25, 0.5])
def test_shuffled_split_equals_sklearns_train_test_split_row_for_row(n_rows: int, test_size: float) -> None:
    expected_train, expected_test = train_test_split(np.arange(n_rows), test_size=test_size, random_state=42)
    train, test = shuffled_split(n_rows, test_size, seed=42)
    assert np.array_equal(train, expected_train) and np.array_equal(test, expected_test)


def test_a_split_that_leaves_no_training_row_is_refused() -> None:
    with pytest.raises(ValueError, match="no training or no test row of 1"):
        shuffled_split(1, 0.2, seed=42)


def test_scored_rows_are_a_deterministic_sample_of_the_test_rows() -> None:
    test = np.arange(10_000, 20_000)
    first, second = score_rows(test, 500, seed=42), score_rows(test, 500, seed=42)
    assert np.array_equal(first, second) and first.shape == (500,)
    assert np.isin(first, test).all() and np.unique(first).shape == (500,)


def test_time_split_has_no_date_on_both_sides() -> None:
    day = np.repeat(np.arange(18000, 18100, dtype=np.int32), 50)
    split = time_split(day, test_fraction=0.15, max_scored=10_000)
    cutoff = time_cutoff(day, 0.15)
    assert day[split.train].max() < cutoff <= day[split.test].min()
    assert split.details["cutoff_date"] == str(np.datetime64(cutoff, "D"))
    assert 0.14 <= split.details["test_fraction"] <= 0.16
    with pytest.raises(ValueError, match="at least two dates"):
        time_cutoff(np.full(10, 18000, dtype=np.int32), 0.15)
    with pytest.raises(ValueError, match="between 0 and 1"):
        time_cutoff(day, 1.5)


def test_served_volumes_without_a_transform_are_whole_and_non_negative() -> None:
    assert np.array_equal(served_volumes(np.array([-5.0, 2.4, 2.6]), "none"), [0.0, 2.0, 3.0])


def test_training_sample_is_all_rows_or_a_sorted_deterministic_sample() -> None:
    train = np.random.default_rng(1).permutation(10_000)
    assert training_sample(train, None, seed=42) is train
    assert training_sample(train, 10_000, seed=42) is train
    first, second = training_sample(train, 500, seed=42), training_sample(train, 500, seed=42)
    assert np.array_equal(first, second) and first.shape == (500,)
    assert np.array_equal(first, np.sort(first)) and np.unique(first).shape == (500,)
    assert np.isin(first, train).all()


def test_scores_are_the_usual_definitions() -> None:
    actual, predicted = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 3.0, 2.0])
    scores = regression_scores(actual, predicted)
    assert scores["mae"] == pytest.approx(0.75) and scores["mse"] == pytest.approx(1.25)
    assert scores["r2"] == pytest.approx(1 - 5.0 / 5.0)


def test_booster_fits_deterministically_and_beats_a_constant(synthetic: pa.Table) -> None:
    data = training_data_from_table(synthetic)
    config = BoosterConfig(num_boost_round=30, min_data_in_leaf=20)
    first = fit_booster(config, data.features, data.target, data.features[:500], data.target[:500])
    second = fit_booster(config, data.features, data.target)
    assert first.booster.model_to_string() == second.booster.model_to_string()
    assert [row["iteration"] for row in first.loss] == list(range(1, 31))
    assert set(first.loss[0]) == {"iteration", "train_loss", "valid_loss"}
    assert set(second.loss[0]) == {"iteration", "train_loss"}
    predicted = predict_booster(first.booster, data.features, "log1p", threads=1)
    constant = np.full_like(data.target, np.median(data.target))
    assert regression_scores(data.target, predicted)["mae"] < regression_scores(data.target, constant)["mae"]
    assert np.array_equal(predict_naive(data.features), data.features[:, 0])


def test_the_first_k_trees_of_a_longer_fit_predict_as_the_k_round_fit(synthetic: pa.Table) -> None:
    """What tests/train/tradeoff.py --rounds relies on (docs/model.md, "Boosting rounds")."""
    data = training_data_from_table(synthetic)
    short = fit_booster(BoosterConfig(num_boost_round=10, min_data_in_leaf=20), data.features, data.target)
    longer = fit_booster(BoosterConfig(num_boost_round=25, min_data_in_leaf=20), data.features, data.target)
    truncated = longer.booster.predict(data.features, num_iteration=10)
    assert np.array_equal(truncated, short.booster.predict(data.features))
    assert not np.array_equal(longer.booster.predict(data.features), truncated)


def test_pickled_bytes_counts_the_pickle() -> None:
    import pickle

    obj = {"a": np.arange(1000), "b": "x" * 100}
    assert pickled_bytes(obj) == len(pickle.dumps(obj, protocol=5))


def test_forest_size_counted_tree_by_tree_is_close_to_the_whole_pickle() -> None:
    rng = np.random.default_rng(0)
    forest, _, _ = fit_forest(rng.random((500, 2)), rng.random(500), threads=1)
    whole, by_tree = pickled_bytes(forest), forest_pickled_bytes(forest)
    assert whole <= by_tree <= whole * 1.02
    assert len(forest.estimators_) == 100
