"""Out-of-KB questions far from any bank FAQ, shipped with the code for calibration.

Calibration's other out-of-KB stand-ins are questions of knowledge points it removed from the
KB, which sit next to their siblings (a removed 农户贷款利率 entry next to the kept 农户贷款额度
one): the hardest out-of-KB questions there are. Customers' unanswerable questions are mostly
not like that; they ask about something the bank's FAQ does not cover at all, or about nothing
banking. These stand for that part of the traffic (:mod:`faq.calibrate` weighs the two kinds).
Written for this purpose, independent of any benchmark file; a bank whose FAQ happens to answer
one of them only makes its calibration a little more cautious.
"""

from __future__ import annotations

FAR_OUT_OF_KB: tuple[str, ...] = (
    "今天天气怎么样",
    "明天会下雨吗",
    "你是机器人还是真人",
    "给我讲个笑话吧",
    "今天星期几",
    "附近有什么好吃的饭店",
    "火车票怎么买",
    "医院挂号怎么预约",
    "孩子发烧了怎么办",
    "猪肉多少钱一斤",
    "化肥什么时候降价",
    "村里的路什么时候修",
    "快递到了放哪里",
    "手机流量怎么充",
    "电费怎么交比较便宜",
    "这个股票明天会涨吗",
    "推荐一只能赚钱的基金",
    "比特币现在多少钱",
    "黄金还会涨吗",
    "房价明年会跌吗",
    "彩票怎么中奖",
    "你们行长叫什么名字",
    "你们银行招人吗 工资多少",
    "我想投诉隔壁那家超市",
    "车险理赔要多久",
    "驾照过期了怎么换",
    "身份证在哪里补办",
    "户口怎么迁",
    "种什么庄稼今年收成好",
    "小孩上学要交哪些费用",
    "帮我写一首诗",
    "你喜欢吃什么",
    "我心情不好 陪我聊聊",
    "几点了",
    "怎么减肥最快",
    "电视机坏了找谁修",
    "养老院一个月多少钱",
    "去北京坐飞机要多久",
    "我家的狗不吃东西怎么办",
    "微信朋友圈怎么发视频",
)
