"""Classic chains with TieredMemory, used by the tests (also in subprocesses)."""

from __future__ import annotations

from typing import Any

from langchain_classic.chains import ConversationChain
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import FakeListLLM, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder


class Capture(BaseCallbackHandler):
    """Records what the model receives (text prompts or chat messages)."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.chats: list[list[BaseMessage]] = []

    def on_llm_start(self, serialized: Any, prompts: list[str], **kwargs: Any) -> None:
        self.prompts.extend(prompts)

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.chats.extend(messages)


def text_chain(memory: Any, replies: list[str], capture: Capture) -> ConversationChain:
    """The classic ConversationChain (its default Human/AI text prompt) over a fake LLM."""
    return ConversationChain(llm=FakeListLLM(responses=replies, callbacks=[capture]), memory=memory)


def chat_chain(memory: Any, replies: list[str], capture: Capture) -> ConversationChain:
    """ConversationChain with a chat prompt (history as messages) over a fake chat model."""
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    model = GenericFakeChatModel(
        messages=iter([AIMessage(r) for r in replies]), callbacks=[capture]
    )
    return ConversationChain(llm=model, memory=memory, prompt=prompt)


REACT_PROMPT = """Answer the clinic patient. Tools:
{tools}

Earlier conversation:
{chat_history}

Use this format:
Question: the input
Thought: think
Action: one of [{tool_names}]
Action Input: the input of the action
Observation: the result
Final Answer: the answer

Question: {input}
{agent_scratchpad}"""


def free_slots(day: str) -> str:
    """Free appointment slots of a day."""
    return f"{day.strip()}: 09:00, 14:00"


def agent_executor(memory: Any, replies: list[str], capture: Capture) -> Any:
    """A ReAct AgentExecutor with one tool over a fake LLM, with ``memory``."""
    from langchain_classic.agents import AgentExecutor, create_react_agent
    from langchain_core.prompts import PromptTemplate
    from langchain_core.tools import tool

    tools = [tool(free_slots)]
    llm = FakeListLLM(responses=replies, callbacks=[capture])
    agent = create_react_agent(llm, tools, PromptTemplate.from_template(REACT_PROMPT))
    return AgentExecutor(agent=agent, tools=tools, memory=memory, max_iterations=3)


def agent_replies(day: str, answer: str) -> list[str]:
    """One tool call, then the final answer."""
    return [
        f"Thought: look up slots\nAction: free_slots\nAction Input: {day}",
        f"Thought: done\nFinal Answer: {answer}",
    ]
