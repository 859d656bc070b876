# bankcare — 农商行智能客服与客户关怀助手
# `make run` starts everything on a local SQLite demo bank; `make test` runs every test.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
PY := $(VENV)/bin/python
APP_LOCK := requirements/app.lock.txt
RASA_LOCK := requirements/rasa.lock.txt
APP_STAMP := $(VENV)/.installed-$(shell sha1sum $(APP_LOCK) pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
RASA_STAMP := $(RASA_VENV)/.installed-$(shell sha1sum $(RASA_LOCK) 2>/dev/null | cut -c1-12)
export DATABASE_URL ?= sqlite:///$(CURDIR)/var/bankcare.db
export ACTIONS_URL ?= http://127.0.0.1:5055/webhook
export RASA_URL ?= http://127.0.0.1:5005
export WECHAT_API_BASE ?= http://127.0.0.1:8090
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONUNBUFFERED := 1

.PHONY: run-cluster help install run test test-fast lint migrate seed train bench bench-nlu bench-dialogue bench-faq bench-faq-other bench-insights bench-gateway bench-care bench-sms bench-antifraud bench-pii bench-timeparse bench-seed bench-fuzz bench-load lock clean

help: ## 显示所有命令 (show this help)
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

install: $(APP_STAMP) $(RASA_STAMP) ## 创建两个虚拟环境并安装锁定版本的依赖 (create .venv and .venv-rasa)

$(APP_STAMP): $(APP_LOCK) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(APP_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

$(RASA_STAMP): $(RASA_LOCK)
	@PY310=$$(scripts/find-python310.sh) || exit 1; \
	  test -x $(RASA_VENV)/bin/python || $$PY310 -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install --quiet --upgrade "pip<25"
	$(RASA_VENV)/bin/python -m pip install --quiet -r $(RASA_LOCK)
	@rm -f $(RASA_VENV)/.installed-* && touch $@

lock: ## 重新生成锁定文件 (refresh requirements/*.lock.txt from the current venvs)
	$(PY) -m pip freeze --exclude-editable | grep -v '^bankcare' > $(APP_LOCK)
	$(RASA_VENV)/bin/python -m pip freeze > $(RASA_LOCK)

migrate: $(APP_STAMP) ## 升级数据库结构 (Alembic, honours DATABASE_URL)
	$(VENV)/bin/bankcare migrate

seed: $(APP_STAMP) ## 建库；为空时生成演示银行和知识库，加载关怀活动 (idempotent)
	$(PY) scripts/prepare_demo.py

train: install ## 训练 Rasa 模型（数据和配置没变就复用）(train only when inputs changed)
	@mkdir -p var && $(PY) scripts/train_if_changed.py > var/model-path

run: install seed train ## 启动全部服务：rasa、actions、网关、调度器、微信沙箱 (start everything)
	@echo ""
	@echo "  打开浏览器访问 http://localhost:8080  (web chat)"
	@echo "  客户经理工作台 http://localhost:8080/console  (RM console)"
	@echo "  微信沙箱       http://localhost:8090/sandbox  (WeChat sandbox)"
	@echo "  短信沙箱       http://localhost:8091/sandbox/sms  (SMS sandbox)"
	@echo ""
	@# Development tokens for Rasa's API (gateway only) and the action server (Rasa only), made once.
	@umask 077 && for f in rasa-token actions-token; do test -s var/$$f || \
	  $(PY) -c 'import secrets; print(secrets.token_urlsafe(32))' > var/$$f; done
	@# WECHAT_MODE: safe (the default with an EncodingAESKey); the sandbox encrypts like WeChat does.
	@# DEMO_MODE: the web page offers the demo customers (the code's default is off).
	BANKCARE_MODEL=$$(cat var/model-path) DEMO_MODE=$${DEMO_MODE:-true} \
	  RASA_TOKEN=$${RASA_TOKEN:-$$(cat var/rasa-token)} ACTIONS_TOKEN=$${ACTIONS_TOKEN:-$$(cat var/actions-token)} \
	  $(VENV)/bin/honcho start -f Procfile

test: install ## 运行全部测试（单元、PostgreSQL、端到端、浏览器）(run every test)
	@scripts/ensure-chromium.sh
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test-fast: $(APP_STAMP) ## 只跑不启动进程的快速测试 (skip e2e and browser tests)
	$(PY) -m pytest -p no:cacheprovider -m "not e2e and not browser" $(PYTEST_ARGS)

lint: $(APP_STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy core bankcare crm faq outbound care insights gateway actions care_scheduler devstack rasa_ext

bench-seed: $(APP_STAMP) ## 生成 100 万客户演示银行的耗时 (seed 1,000,000 customers)
	$(PY) -m bench.seed

bench-nlu: install ## NLU 准确率与延迟 (intent/entity F1, parse latency)
	$(PY) -m bench.nlu

bench-dialogue: install ## 多轮对话脚本通过率 (rasa test on scripted conversations, failing turns listed)
	$(PY) -m bench.dialogue

bench-faq: $(APP_STAMP) ## 知识库问答准确率与延迟
	$(PY) -m bench.faq

bench-faq-other: $(APP_STAMP) ## 另一家农商行的知识库：导入后按客户口语问法的准确率、答错率、拒答率
	$(PY) -m bench.faq_other_bank

bench-insights: $(APP_STAMP) ## 客户之声：10 万条未答问题聚类耗时与纯度
	$(PY) -m bench.insights

bench-gateway: $(APP_STAMP) ## 网关验签、解密、解析、去重吞吐
	$(PY) -m bench.gateway

bench-care: $(APP_STAMP) ## 关怀活动规划与发送吞吐（含短信：调度器经短信沙箱批量发送，发送中途被杀后重启）
	$(PY) -m bench.care
	$(PY) -m bench.care_sms --dispatch

bench-sms: $(APP_STAMP) ## 短信发送吞吐：真实腾讯云 SDK 经短信沙箱，每批 200 个号码
	$(PY) -m bench.care_sms

bench-antifraud: $(APP_STAMP) ## 反诈识别：盲测集的召回率与误报率
	$(PY) -m bench.antifraud

bench-pii: $(APP_STAMP) ## 个人信息脱敏：盲测集上手机号、座机、身份证、卡号、验证码、余额的泄漏与误遮
	$(PY) -m bench.pii

bench-timeparse: $(APP_STAMP) ## 时间表达解析：盲测集（农历、礼拜、上上个月、繁体、全角数字）的准确率
	$(PY) -m bench.timeparse

bench-fuzz: $(APP_STAMP) ## 模糊测试：微信解析/解密路径（10 万个用例）、网页聊天和客户经理工作台接口（各 2000 个恶意请求）
	$(PY) -m bench.fuzz

SOAK_MINUTES ?= 10
bench-load: install ## 全链路压测：吞吐、延迟、内存、10 分钟浸泡（SOAK_MINUTES=0 跳过），对比 Rasa 单独的能力
	$(PY) -m bench.load --soak-minutes $(SOAK_MINUTES)

bench: bench-seed bench-nlu bench-dialogue bench-faq bench-faq-other bench-insights bench-gateway bench-care bench-sms bench-antifraud bench-pii bench-timeparse bench-fuzz bench-load ## 全部基准测试，结果写入 BENCHMARKS.md

clean: ## 删除生成的数据库、模型和缓存（保留虚拟环境）
	rm -rf var models results .pytest_cache

run-cluster: install train ## 生产拓扑演示：两个网关 + 两个 Rasa，共用 PostgreSQL、Redis (needs local PostgreSQL and Redis)
	@scripts/run-cluster.sh "$$(cat var/model-path)"
