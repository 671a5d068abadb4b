# fusionlab: `make demo` (train + zero-shot evaluation on the embedded synthetic suite), `make test`.
# Both create .venv on first use: the torch pair first (DESIGN §8), then the project.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PAIR ?= torch==2.14.1 torchvision==0.29.1

export HF_HUB_OFFLINE := 1
export NO_ALBUMENTATIONS_UPDATE := 1
export WANDB_MODE ?= offline

.PHONY: demo test lint bench bench-quality clean-venv

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_PAIR)
	$(PY) -m pip install -q -e ".[test,dev,sweeps,export,plots]"
	@touch $@

demo: $(VENV)/.installed
	$(PY) -m fusionlab.train +experiment=ivif_zero_shot data.mode=synthetic

test: $(VENV)/.installed
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks experiments

# Every benchmark but the quality one; their tables replace the README's bench:<name> blocks (benchmarks/publish.py).
bench: $(VENV)/.installed
	$(PY) benchmarks/publish.py

# The default recipe trained with 3 seeds on $(DATA), scored against the classical rules on the zero-shot suite and
# on the synthetic suite (PSNR_gt); about 2.5 min per seed here (wall times in the generated table).
DATA ?= ../shared/data
bench-quality: $(VENV)/.installed
	$(PY) benchmarks/publish.py quality -- --seeds 1 2 3 --data-dir $(DATA)

clean-venv:
	rm -rf $(VENV)
